/*
 * addr.c - listen addresses and peer addresses (see addr.h).
 */
#include "server/core/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int addr_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len,
                      const char **why)
{
    char host[256];
    const char *colon = text ? strrchr(text, ':') : NULL;
    *why = "it does not end in :PORT";
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof(host))
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || port < 1 || port > 65535) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    size_t hl = (size_t)(colon - text);
    memcpy(host, text, hl);
    host[hl] = '\0';
    char *h = host;
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']') {
            *why = "an IPv6 address goes in brackets, such as [::1]:8080";
            return -1;
        }
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(h, colon + 1, &hints, &ai) != 0 || !ai) {
        *why = "the host is not an address, nor a name that resolves";
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

void addr_text(const struct sockaddr *sa, char out[ADDR_TEXT_MAX])
{
    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, ADDR_TEXT_MAX);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, ADDR_TEXT_MAX);
        else
            inet_ntop(AF_INET6, a, out, ADDR_TEXT_MAX);
    }
}
