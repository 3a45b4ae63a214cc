/*
 * report.c - building and checking the reports of `vigil-device report`
 * (see report.h). The command line's reports are checked with the
 * server's own rules (protocol/incident.c), so a value the server would
 * reject is refused here, before it is queued, naming the option.
 */
#include "tools/vigil-device/report.h"

#include "protocol/incident.h"
#include "protocol/when.h"
#include "tools/vigil-device/queue.h"
#include "tools/vigil-device/util.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The message in err, and NULL for the caller to return. */
#define FAIL(err, len, ...) (devu_format((err), (len), __VA_ARGS__), (json_t *)NULL)

/* The server's reason for a field ("severity 'hgih' is not one of ...",
 * incident_validate's) said of the option that gave the value:
 * "--severity 'hgih' is not one of ...". */
static json_t *field_error(const devcli_opts *o, const char *reason, char *err, size_t len)
{
    static const struct {
        const char *field, *option;
        size_t off;
    } fields[] = {
        {"id", "id", offsetof(devcli_opts, id)},
        {"type", "type", offsetof(devcli_opts, type)},
        {"severity", "severity", offsetof(devcli_opts, severity)},
        {"occurred_at", "occurred-at", offsetof(devcli_opts, occurred_at)},
        {"firmware_version", "firmware-version", offsetof(devcli_opts, firmware)},
        {"component", "component", offsetof(devcli_opts, component)},
        {"details", "details", offsetof(devcli_opts, details)},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        size_t n = strlen(fields[i].field);
        const char *value = *(const char *const *)((const char *)o + fields[i].off);
        if (strncmp(reason, fields[i].field, n) != 0)
            continue;
        if (reason[n] == ' ' && reason[n + 1] == '\'') /* "severity 'hgih' is not ..." */
            return FAIL(err, len, "--%s%s", fields[i].option, reason + n);
        if (strncmp(reason + n, ": ", 2) != 0)
            continue;
        const char *why = reason + n + 2;
        if (strncmp(why, "required, ", 10) == 0)
            return FAIL(err, len, "--%s '%s' is not %s", fields[i].option, value ? value : "",
                        why + 10);
        return FAIL(err, len, "--%s '%s': %s", fields[i].option, value ? value : "", why);
    }
    return FAIL(err, len, "%s", reason);
}

/* The report the field options describe, with id; checked. */
static json_t *from_fields(const devcli_opts *o, const char *id, char *err, size_t len)
{
    char when[32], reason[sizeof(((incident_item *)0)->reason)];
    incident checked;
    json_error_t je;
    incident_format_time(when_now_us(), when);
    json_t *r = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "type", o->type ? o->type : "crash",
                          "severity", o->severity ? o->severity : "error", "occurred_at",
                          o->occurred_at ? o->occurred_at : when);
    if (!r)
        return FAIL(err, len, "out of memory");
    if (o->component)
        json_object_set_new(r, "component", json_string(o->component));
    if (o->firmware)
        json_object_set_new(r, "firmware_version", json_string(o->firmware));
    if (o->details) {
        json_t *d = json_loads(o->details, JSON_DECODE_ANY, &je);
        if (!d) {
            json_decref(r);
            return FAIL(err, len, "--details '%s' is not JSON: %s", o->details, je.text);
        }
        json_object_set_new(r, "details", d);
    }
    if (incident_validate(r, when_now_us(), &checked, reason, sizeof(reason)) < 0) {
        json_decref(r);
        return field_error(o, reason, err, len);
    }
    incident_clear(&checked);
    return r;
}

static json_t *from_options(const devcli_opts *o, char *err, size_t len)
{
    long count = o->count ? o->count : 1;
    if (o->id && count > 1)
        return FAIL(err, len,
                    "--id names one report: --count %ld would queue %ld copies with "
                    "that one id (leave --id out to give each its own)",
                    count, count);
    json_t *all = json_array();
    for (long n = 0; all && n < count; n++) {
        char id[37];
        if (o->id)
            snprintf(id, sizeof(id), "%s", o->id);
        else if (incident_uuid_v4(id) < 0) {
            json_decref(all);
            return FAIL(err, len, "cannot make a report id");
        }
        json_t *r = from_fields(o, id, err, len);
        if (!r) {
            json_decref(all);
            return NULL;
        }
        json_array_append_new(all, r);
    }
    return all ? all : FAIL(err, len, "out of memory");
}

/* The reports of a file: an object or an array of objects, each id (if
 * any) a lowercase UUID, an id added where there is none. */
static json_t *from_file(const char *path, char *err, size_t len)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je), *all, *item;
    size_t i;
    if (!root)
        return FAIL(err, len, "--file %s: not JSON: %s (line %d)", path, je.text, je.line);
    all = json_is_array(root) ? json_incref(root) : json_pack("[O]", root);
    json_decref(root);
    if (!all || json_array_size(all) == 0) {
        json_decref(all);
        return FAIL(err, len, "--file %s: neither a report nor an array of reports", path);
    }
    json_array_foreach(all, i, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        char canon[37], fresh[37];
        if (!json_is_object(item)) {
            json_decref(all);
            return FAIL(err, len, "--file %s: item %zu is not a report (a JSON object)", path,
                        i + 1);
        }
        if (id && (incident_uuid_canonical(id, canon) < 0 || strcmp(canon, id) != 0)) {
            json_decref(all);
            return FAIL(err, len, "--file %s: report %zu: id '%s' is not a lowercase UUID", path,
                        i + 1, id);
        }
        if (!id && incident_uuid_v4(fresh) == 0)
            json_object_set_new(item, "id", json_string(fresh));
    }
    return all;
}

json_t *report_build(const devcli_opts *o, char *err, size_t errlen)
{
    return o->file ? from_file(o->file, err, errlen) : from_options(o, err, errlen);
}

int report_queue(const char *dir, json_t *reports, char *err, size_t errlen)
{
    size_t i;
    json_t *item;
    json_array_foreach(reports, i, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        if (!id || devq_put(dir, id, item) < 0) {
            devu_format(err, errlen, "cannot queue report %s in %s", id ? id : "(no id)", dir);
            return -1;
        }
    }
    return 0;
}
