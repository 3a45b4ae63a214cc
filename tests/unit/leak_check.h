/*
 * leak_check.h - makes a leak fail the test that made it.
 *
 * Criterion 2.4 decides a test's result before its process exits, so the
 * report LeakSanitizer prints at exit fails nothing: the binary still says
 * "Failing: 0" and exits 0. A suite's .fini that calls leak_check() asks
 * LeakSanitizer at the end of each test instead and aborts on a leak, which
 * Criterion reports as "crashed during its setup or teardown" and counts in
 * its exit status. Without AddressSanitizer it does nothing.
 */
#ifndef VIGIL_TEST_LEAK_CHECK_H
#define VIGIL_TEST_LEAK_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define LEAK_CHECK_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LEAK_CHECK_LSAN 1
#endif
#endif

#ifdef LEAK_CHECK_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static inline void leak_check(void)
{
#ifdef LEAK_CHECK_LSAN
    if (__lsan_do_recoverable_leak_check()) {
        fprintf(stderr, "the test leaked memory: LeakSanitizer's report is above\n");
        abort();
    }
#endif
}

#endif
