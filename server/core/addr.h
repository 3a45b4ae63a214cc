/*
 * addr.h - network addresses as vigild's settings and logs write them:
 * the listen addresses of both ports ("0.0.0.0:8443", "[::1]:8080",
 * "localhost:8443") and a peer's address as text.
 */
#ifndef VIGIL_ADDR_H
#define VIGIL_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Room for any address addr_text writes, NUL included. */
#define ADDR_TEXT_MAX 46

/* HOST:PORT, where HOST is an IPv4 address, an IPv6 address in brackets or
 * a host name (resolved now, first answer taken) and PORT is 1-65535. 0
 * with *ss and *len filled, or -1 with why (a phrase) set. */
int addr_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len,
                      const char **why);

/* The address of sa as text (out: ADDR_TEXT_MAX bytes); an IPv4-mapped
 * IPv6 address as plain IPv4, since PostgreSQL's inet would not compare
 * the two equal. "" for a family that is neither. */
void addr_text(const struct sockaddr *sa, char out[ADDR_TEXT_MAX]);

#endif
