/*
 * addr.c - listen addresses and peer addresses (see addr.h).
 */
#include "server/core/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits HOST:PORT into host (brackets removed) and *port. 0, or -1 with
 * why set. */
static int split_host_port(const char *text, char host[256], long *port, int *bracketed,
                           const char **why)
{
    const char *colon = text ? strrchr(text, ':') : NULL;
    *why = "it does not end in :PORT";
    if (!colon || colon == text || (size_t)(colon - text) >= 256)
        return -1;
    char *end;
    *port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || *port < 1 || *port > 65535) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    size_t hl = (size_t)(colon - text);
    *bracketed = text[0] == '[';
    if (*bracketed && (hl < 3 || text[hl - 1] != ']')) {
        *why = "an IPv6 address goes in brackets, such as [::1]:8080";
        return -1;
    }
    memcpy(host, text + *bracketed, hl - 2 * (size_t)*bracketed);
    host[hl - 2 * (size_t)*bracketed] = '\0';
    /* Unbracketed, "::1:8080" could be [::1]:8080 or ::1:8080 itself. */
    if (!*bracketed && strchr(host, ':')) {
        *why = "an IPv6 address goes in brackets, such as [::1]:8080";
        return -1;
    }
    return 0;
}

int addr_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len,
                      const char **why)
{
    char host[256], service[8];
    long port;
    int bracketed;
    if (split_host_port(text, host, &port, &bracketed, why) < 0)
        return -1;
    snprintf(service, sizeof(service), "%ld", port);
    struct addrinfo hints = {.ai_family = bracketed ? AF_INET6 : AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags =
                                 AI_PASSIVE | AI_NUMERICSERV | (bracketed ? AI_NUMERICHOST : 0)};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, service, &hints, &ai) != 0 || !ai) {
        *why = bracketed ? "the address in brackets is not an IPv6 address"
                         : "the host is not an address, nor a name that resolves";
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
