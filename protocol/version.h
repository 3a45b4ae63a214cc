/*
 * version.h - the one version string of every Vigil program, set by the
 * build (Makefile's VIGIL_VERSION, plus the git commit when there is one)
 * in build/gen/version.c, and printed by each program's --version.
 */
#ifndef VIGIL_VERSION_H
#define VIGIL_VERSION_H

/* "0.13.0" or "0.13.0 (commit 99b1af3)". */
extern const char vigil_version[];

/* Prints "<program> <vigil_version>" and a newline on stdout. */
void version_print(const char *program);

#endif
