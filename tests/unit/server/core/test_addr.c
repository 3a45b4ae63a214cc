/*
 * test_addr.c - addresses as vigild reads and writes them
 * (server/core/addr.c): the one grammar of --device-listen and
 * --api-listen, checked before anything starts, and a peer's address as
 * text, which is what the connection limits, the security events and
 * PostgreSQL's inet columns compare. Only numeric hosts and localhost are
 * used, so no test depends on DNS.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "server/core/addr.h"
#include "tests/unit/leak_check.h"

TestSuite(addr, .fini = leak_check);

/* Parses text, which must be accepted; the address in *ss. */
static void parses(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    const char *why = NULL;
    int rc = addr_parse_listen(text, ss, len, &why);
    cr_assert_eq(rc, 0, "'%s' refused: %s", text, why ? why : "(no reason)");
}

/* text is accepted as an address of family af (AF_INET or AF_INET6), host
 * (as inet_ntop writes it) and port. */
static void parses_to(const char *text, int af, const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    parses(text, &ss, &len);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    cr_assert_eq(ss.ss_family, af, "'%s': family %d", text, ss.ss_family);
    cr_assert_eq(len, af == AF_INET ? sizeof(*in) : sizeof(*in6), "'%s': length %u", text,
                 (unsigned)len);
    int got_port = ntohs(af == AF_INET ? in->sin_port : in6->sin6_port);
    cr_assert_eq(got_port, port, "'%s': port %d", text, got_port);
    char got[INET6_ADDRSTRLEN];
    inet_ntop(af, af == AF_INET ? (const void *)&in->sin_addr : (const void *)&in6->sin6_addr, got,
              sizeof(got));
    cr_assert_str_eq(got, host, "'%s'", text);
}

/* text must be refused, with a reason. */
static void refused(const char *text)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    const char *why = NULL;
    cr_assert_eq(addr_parse_listen(text, &ss, &len, &why), -1, "'%s' accepted", text);
    cr_assert(why && *why, "'%s' refused without a reason", text);
}

/* ---- listen addresses ---- */

Test(addr, ipv4_host_and_port)
{
    parses_to("127.0.0.1:8443", AF_INET, "127.0.0.1", 8443);
    parses_to("0.0.0.0:1", AF_INET, "0.0.0.0", 1);
    parses_to("10.1.2.3:65535", AF_INET, "10.1.2.3", 65535);
}

Test(addr, ipv6_in_brackets)
{
    parses_to("[::1]:8080", AF_INET6, "::1", 8080);
    parses_to("[::]:65535", AF_INET6, "::", 65535);
    parses_to("[2001:db8::7]:443", AF_INET6, "2001:db8::7", 443);
}

Test(addr, localhost_resolves_to_a_loopback_address)
{
    struct sockaddr_storage ss;
    socklen_t len;
    parses("localhost:8443", &ss, &len);
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        cr_assert_eq(ntohs(in->sin_port), 8443);
        cr_assert_eq(ntohl(in->sin_addr.s_addr) >> 24, 127, "not a loopback address");
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        cr_assert_eq(ss.ss_family, AF_INET6, "family %d", ss.ss_family);
        cr_assert_eq(ntohs(in6->sin6_port), 8443);
        cr_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr), "not a loopback address");
    }
}

Test(addr, refuses_an_address_without_a_port)
{
    refused("127.0.0.1");
    refused("localhost");
    refused("");
    refused("127.0.0.1:");
    refused("[::1]");
    struct sockaddr_storage ss;
    socklen_t len;
    const char *why = NULL;
    cr_assert_eq(addr_parse_listen(NULL, &ss, &len, &why), -1, "no text at all");
    cr_assert(why && *why);
}

Test(addr, refuses_an_empty_host)
{
    refused(":8443");
    refused("[]:8443");
}

Test(addr, refuses_a_port_outside_1_to_65535)
{
    refused("127.0.0.1:0");
    refused("127.0.0.1:65536");
    refused("127.0.0.1:99999999999999999999");
    refused("[::1]:0");
}

Test(addr, refuses_a_port_that_is_not_a_plain_number)
{
    refused("127.0.0.1:https");
    refused("127.0.0.1:+80");
    refused("127.0.0.1:-80");
    refused("127.0.0.1: 80");
    refused("127.0.0.1:80 ");
    refused("127.0.0.1:8o");
    refused("127.0.0.1:0x50");
}

Test(addr, refuses_an_unclosed_bracket)
{
    refused("[::1:8080");
    refused("[:8080");
}

/* Unbracketed, "::1:8080" could be [::1]:8080 or the address ::1:8080
 * without a port: IPv6 goes in brackets (it was once taken as [::1]:8080). */
Test(addr, refuses_ipv6_without_brackets)
{
    refused("::1:8080");
    refused(":::8080");
    refused("2001:db8::7:443");
}

Test(addr, refuses_a_host_over_255_characters)
{
    char text[400];
    memset(text, '1', 300);
    strcpy(text + 300, ":8443");
    refused(text);
    memset(text, 'a', 256); /* the first length refused */
    strcpy(text + 256, ":8443");
    refused(text);
}

Test(addr, the_reason_names_what_is_wrong)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *why;
    addr_parse_listen("8443", &ss, &len, &why);
    cr_assert_str_eq(why, "it does not end in :PORT");
    addr_parse_listen("127.0.0.1:0", &ss, &len, &why);
    cr_assert_str_eq(why, "the port must be a number from 1 to 65535");
    addr_parse_listen("[::1:8080", &ss, &len, &why);
    cr_assert(strstr(why, "brackets"), "why: %s", why);
}

/* ---- peer addresses as text ---- */

/* addr_text of a peer of family af (AF_INET or AF_INET6) at text. */
static const char *text_of(int af, const char *text)
{
    static char out[ADDR_TEXT_MAX];
    struct sockaddr_storage ss = {.ss_family = (sa_family_t)af};
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (af == AF_INET)
        in->sin_port = htons(5000);
    else
        in6->sin6_port = htons(5000);
    void *raw = af == AF_INET ? (void *)&in->sin_addr : (void *)&in6->sin6_addr;
    cr_assert_eq(inet_pton(af, text, raw), 1, "%s", text);
    memset(out, 'x', sizeof(out));
    addr_text((const struct sockaddr *)&ss, out);
    return out;
}

Test(addr, text_of_an_ipv4_peer)
{
    cr_assert_str_eq(text_of(AF_INET, "192.0.2.7"), "192.0.2.7", "no port");
    cr_assert_str_eq(text_of(AF_INET, "255.255.255.255"), "255.255.255.255");
}

Test(addr, text_of_an_ipv6_peer)
{
    cr_assert_str_eq(text_of(AF_INET6, "2001:db8::1"), "2001:db8::1");
    cr_assert_str_eq(text_of(AF_INET6, "::1"), "::1");
}

Test(addr, text_of_the_longest_ipv6_address_fits)
{
    cr_assert_str_eq(text_of(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"),
                     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

Test(addr, an_ipv4_mapped_ipv6_peer_is_shown_as_ipv4)
{
    /* A dual-stack socket reports IPv4 clients this way; shown as IPv6
     * they would not compare equal to the same address in inet. */
    cr_assert_str_eq(text_of(AF_INET6, "::ffff:192.0.2.7"), "192.0.2.7");
    cr_assert_str_eq(text_of(AF_INET6, "::192.0.2.7"), "::192.0.2.7",
                     "IPv4-compatible is not IPv4-mapped");
}

Test(addr, text_of_another_family_is_empty)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/vigil.sock"};
    char out[ADDR_TEXT_MAX];
    memset(out, 'x', sizeof(out));
    addr_text((const struct sockaddr *)&un, out);
    cr_assert_str_eq(out, "");
}

Test(addr, a_parsed_address_reads_back_as_its_host)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char out[ADDR_TEXT_MAX];
    parses("[::1]:8080", &ss, &len);
    addr_text((const struct sockaddr *)&ss, out);
    cr_assert_str_eq(out, "::1");
    parses("127.0.0.1:8443", &ss, &len);
    addr_text((const struct sockaddr *)&ss, out);
    cr_assert_str_eq(out, "127.0.0.1");
}
