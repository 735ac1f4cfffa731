/*
 * qmp-schema.h through the public API only, against QEMU 7.2's real schema
 * (tests/data/qemu-7.2/query-qmp-schema.json): the shared tables of queries
 * and validation verdicts (tests/data/schema-*.txt, also run live by
 * tests/interop/test-schema.c), libvirt's drive-mirror, the tree and text
 * constructors, listings, argument summaries, descriptions, malformed
 * schemas, reference counting, NULL arguments and bad flags.
 *
 * Expected values come from the schema file itself (read here with jansson,
 * independently of the library) or were worked out by hand from it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "check-json.h"
#include "libvirt-calls.h"

#include "schema-tables.h"

/* The captured reply, as text and as jansson's tree of the "return" array. */
static char *g_text;
static size_t g_len;
static json_t *g_reply;   /* {"return": [...]} */
static const json_t *g_entities;
static qmp_schema *g_schema;

static int group_setup(void **state)
{
    (void)state;
    g_text = test_data_read(QEMU72_SCHEMA_FILE, &g_len);
    json_error_t err;
    g_reply = json_loadb(g_text, g_len, 0, &err);
    if (!g_reply) {
        fprintf(stderr, "cannot parse %s: %s\n", QEMU72_SCHEMA_FILE, err.text);
        return -1;
    }
    g_entities = json_object_get(g_reply, "return");
    if (!json_is_array(g_entities))
        return -1;
    g_schema = test_schema_new(g_text, g_len);
    return g_schema ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    qmp_schema_unref(g_schema);
    json_decref(g_reply);
    free(g_text);
    return 0;
}

/* The raw entity named name in the file (not through the library). */
static const json_t *raw_entity(const char *name)
{
    size_t i;
    const json_t *e;
    json_array_foreach(g_entities, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return e;
    }
    fail_msg("no entity '%s' in the schema file", name);
    return NULL;
}

static const char *raw_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void expect_einval(const char *what)
{
    const qmp_error *e = qmp_error_last();
    if (e->code != QMP_EINVAL)
        fail_msg("%s: expected QMP_EINVAL, got %d (%s)", what, e->code, e->message);
    assert_non_null(e->message);
    assert_true(strlen(e->message) > 0);
}

/* ---- the shared tables --------------------------------------------------------- */

/* Runs every query of the table against s; returns the number of mismatches (printed). */
static int run_queries(const qmp_schema *s, const query_table *t)
{
    int bad = 0;
    for (size_t i = 0; i < t->n; i++) {
        const query_line *q = &t->rows[i];
        int rc = qmp_schema_has(s, q->query);
        char got = rc == 1 ? '1' : rc == 0 ? '0' : rc == QMP_EINVAL ? 'E' : '?';
        if (got == 'E' && strlen(qmp_error_last()->message) == 0)
            got = '?';
        if (got != q->verdict) {
            print_error("schema-queries.txt:%d: '%s': expected %c, got %c (rc %d%s%s)\n", q->line, q->query,
                        q->verdict, got, rc, rc < 0 ? ": " : "", rc < 0 ? qmp_error_last()->message : "");
            bad++;
        }
    }
    return bad;
}

static void test_query_table(void **state)
{
    (void)state;
    query_table t;
    query_table_load(&t);
    size_t verdicts = 0, malformed = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (t.rows[i].verdict == 'E')
            malformed++;
        else
            verdicts++;
    }
    /* Every kind keeps the rows it has (SCHEMA_QUERIES_ROWS in all). */
    assert_true(verdicts >= 121);
    assert_true(malformed >= 17);
    int bad = run_queries(g_schema, &t);
    query_table_free(&t);
    if (bad)
        fail_msg("%d of the table's queries disagree", bad);
}

/* Runs every verdict against s; returns the number of mismatches (printed). */
static int run_verdicts(const qmp_schema *s, const verdict_table *t)
{
    int bad = 0;
    for (size_t i = 0; i < t->n; i++) {
        const verdict_line *v = &t->rows[i];
        json_error_t err;
        json_t *cmd = json_loads(v->command, 0, &err);
        if (!cmd)
            fail_msg("schema-verdicts.txt:%d: bad JSON: %s", v->line, err.text);
        json_t *warnings = (json_t *)(uintptr_t)1; /* must be overwritten */
        int rc = qmp_schema_validate(s, cmd, v->flags, &warnings);
        if (rc != 0 && warnings != NULL) {
            print_error("schema-verdicts.txt:%d: *warnings not NULL on error\n", v->line);
            bad++;
        } else if (!verdict_matches(v, rc, rc == 0 ? warnings : NULL, "qmp_schema_validate")) {
            bad++;
        }
        if (rc == 0) {
            /* Without a warnings pointer: the same outcome. */
            if (qmp_schema_validate(s, cmd, v->flags, NULL) != 0) {
                print_error("schema-verdicts.txt:%d: fails with warnings NULL\n", v->line);
                bad++;
            }
            json_decref(warnings);
        }
        json_decref(cmd);
    }
    return bad;
}

static void test_verdict_table(void **state)
{
    (void)state;
    verdict_table t;
    verdict_table_load(&t);
    size_t ok = 0, einval = 0, warned = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (t.rows[i].ok)
            ok++;
        else
            einval++;
        if (t.rows[i].nwarnings)
            warned++;
    }
    /* Every kind keeps the rows it has (SCHEMA_VERDICTS_ROWS in all). */
    assert_true(ok >= 38);
    assert_true(einval >= 48);
    assert_true(warned >= 9);
    int bad = run_verdicts(g_schema, &t);
    verdict_table_free(&t);
    if (bad)
        fail_msg("%d of the table's verdicts disagree", bad);
}

/* Queries of qmp-schema.h's examples and a few like them, and two malformed
   ones, spelled out (they are in the table too). */
static void test_documented_examples(void **state)
{
    (void)state;
    assert_int_equal(qmp_schema_has(g_schema, "blockdev-add/arg-type/+file/aio/^io_uring"), 1);
    assert_int_equal(qmp_schema_has(g_schema, "blockdev-add/arg-type/+file/drop-cache"), 1);
    assert_int_equal(qmp_schema_has(g_schema, "query-cpus-fast/$unstable"), 0);
    assert_int_equal(qmp_schema_has(g_schema, "x-debug-query-block-graph/$unstable"), 1);
    assert_int_equal(qmp_schema_has(g_schema, ""), QMP_EINVAL);
    expect_einval("empty query");
    assert_int_equal(qmp_schema_has(g_schema, "blockdev-add/arg-type/ "), QMP_EINVAL);
    expect_einval("a lone escape");
}

/* ---- libvirt's drive-mirror --------------------------------------------------- */

static void validate_clean(json_t *cmd)
{
    assert_non_null(cmd);
    json_t *w = NULL;
    int rc = qmp_schema_validate(g_schema, cmd, QMP_VALIDATE | QMP_VALIDATE_DENY_DEPRECATED | QMP_VALIDATE_DENY_UNSTABLE, &w);
    if (rc != 0)
        fail_msg("validate: %d %s", rc, qmp_error_last()->message);
    assert_true(json_is_array(w));
    assert_int_equal(json_array_size(w), 0);
    json_decref(w);
    json_decref(cmd);
}

static void test_libvirt_drive_mirror(void **state)
{
    (void)state;
    validate_clean(libvirt_drive_mirror("drive-virtio-disk0", "/tmp/mirror.qcow2", "qcow2", 1048576, 0, 0, 0, 1));
    validate_clean(libvirt_drive_mirror("drive-virtio-disk0", "/tmp/mirror.qcow2", NULL, 1048576, 65536, 8388608, 1, 0));
    validate_clean(libvirt_drive_mirror("d", "/t", NULL, 0, 0, 0, 0, 0));
    /* and the header's third example, with sync left out */
    json_t *cmd = qmp_command_new("drive-mirror", "s:device", "d0", "s:target", "/t", NULL);
    assert_int_equal(qmp_schema_validate(g_schema, cmd, 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "drive-mirror: arguments: missing required member 'sync'");
    json_decref(cmd);
}

/* ---- constructors ------------------------------------------------------------------ */

/* a and b answer every query and verdict of the tables alike, and list and describe alike. */
static void assert_same_schema(const qmp_schema *a, const qmp_schema *b)
{
    query_table qt;
    query_table_load(&qt);
    for (size_t i = 0; i < qt.n; i++) {
        int ra = qmp_schema_has(a, qt.rows[i].query);
        int rb = qmp_schema_has(b, qt.rows[i].query);
        if (ra != rb)
            fail_msg("'%s': %d vs %d", qt.rows[i].query, ra, rb);
    }
    query_table_free(&qt);
    verdict_table vt;
    verdict_table_load(&vt);
    assert_int_equal(run_verdicts(a, &vt), 0);
    assert_int_equal(run_verdicts(b, &vt), 0);
    verdict_table_free(&vt);
    for (int what = QMP_SCHEMA_COMMANDS; what <= QMP_SCHEMA_EVENTS; what++) {
        json_t *la = qmp_schema_list(a, what), *lb = qmp_schema_list(b, what);
        assert_true(json_equal(la, lb));
        json_decref(la);
        json_decref(lb);
    }
    static const char *const names[] = { "blockdev-add", "SHUTDOWN", "49", "407", "str", "[175]" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *da = qmp_schema_describe(a, names[i]), *db = qmp_schema_describe(b, names[i]);
        assert_non_null(da);
        assert_true(json_equal(da, db));
        json_decref(da);
        json_decref(db);
    }
}

static void test_new_from_tree_equals_text(void **state)
{
    (void)state;
    /* A copy of the "return" array, so that the test can drop it early. */
    json_t *tree = json_deep_copy(g_entities);
    assert_non_null(tree);
    size_t refs = tree->refcount;
    qmp_schema *s = qmp_schema_new(tree);
    assert_non_null(s);
    /* The tree is copied: the caller's reference is untouched and may go. */
    assert_int_equal(tree->refcount, refs);
    assert_true(json_equal(tree, (json_t *)g_entities));
    json_decref(tree);
    assert_same_schema(s, g_schema);

    /* The bare return value as text works as well as the whole reply. */
    char *bare = json_dumps(g_entities, JSON_COMPACT);
    assert_non_null(bare);
    qmp_schema *s2 = qmp_schema_new_str(bare, strlen(bare));
    free(bare);
    assert_non_null(s2);
    assert_same_schema(s2, s);

    /* The whole reply as a tree is not what qmp_schema_new takes: it wants the array. */
    assert_null(qmp_schema_new(g_reply));
    expect_einval("qmp_schema_new of the whole reply");

    /* len is honoured: the text cut short is not a schema. */
    assert_null(qmp_schema_new_str(g_text, g_len / 2));
    expect_einval("half the text");

    qmp_schema_unref(s2);
    qmp_schema_unref(s);
}

/* ---- listings --------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void check_list(int what, const char *meta)
{
    /* The file's own names of this meta-type, sorted here. */
    size_t n = 0, i;
    const json_t *e;
    const char **names = calloc(json_array_size(g_entities), sizeof *names);
    assert_non_null(names);
    json_array_foreach(g_entities, i, e) {
        if (strcmp(raw_str(e, "meta-type"), meta) == 0)
            names[n++] = raw_str(e, "name");
    }
    qsort(names, n, sizeof *names, cmp_str);
    json_t *l = qmp_schema_list(g_schema, what);
    assert_true(json_is_array(l));
    assert_int_equal(json_array_size(l), n);
    for (i = 0; i < n; i++) {
        const char *got = json_string_value(json_array_get(l, i));
        assert_non_null(got);
        assert_string_equal(got, names[i]);
        if (i)
            assert_true(strcmp(json_string_value(json_array_get(l, i - 1)), got) < 0);
    }
    json_decref(l);
    free(names);
}

static void test_list(void **state)
{
    (void)state;
    check_list(QMP_SCHEMA_COMMANDS, "command");
    check_list(QMP_SCHEMA_EVENTS, "event");
    /* 7.2 for x86_64 has 216 commands and 52 events (counted in the file with python3) */
    json_t *l = qmp_schema_list(g_schema, QMP_SCHEMA_COMMANDS);
    assert_int_equal(json_array_size(l), 216);
    json_decref(l);
    l = qmp_schema_list(g_schema, QMP_SCHEMA_EVENTS);
    assert_int_equal(json_array_size(l), 52);
    json_decref(l);
    /* a new array each time: the caller may change it */
    json_t *a = qmp_schema_list(g_schema, QMP_SCHEMA_EVENTS);
    json_array_clear(a);
    json_decref(a);
    l = qmp_schema_list(g_schema, QMP_SCHEMA_EVENTS);
    assert_int_equal(json_array_size(l), 52);
    json_decref(l);
}

/* ---- suggestions ------------------------------------------------------------------ */

/* qmp_schema_suggest() returns 1 and names want, or 0 and nothing when want is NULL. */
static void expect_suggestion(const char *name, int what, const char *want)
{
    char *got = (char *)(uintptr_t)1;
    int rc = qmp_schema_suggest(g_schema, name, what, &got);
    if (want) {
        if (rc != 1 || !got || strcmp(got, want) != 0)
            fail_msg("suggest(%s): %d '%s', expected '%s'", name, rc, rc == 1 && got ? got : "(none)", want);
    } else {
        if (rc != 0 || got)
            fail_msg("suggest(%s): %d '%s', expected no suggestion", name, rc, rc == 1 && got ? got : "(none)");
    }
    qmp_free(got);
}

static void test_suggest(void **state)
{
    (void)state;
    /*
     * query-stauts is one swap from query-status and one deletion from
     * query-stats (both commands of 7.2): the swap keeps the length, and
     * the name of the same length is the one meant.
     */
    expect_suggestion("query-stauts", QMP_SCHEMA_COMMANDS, "query-status");
    expect_suggestion("query-stauts", QMP_SCHEMA_COMMANDS | QMP_SCHEMA_EVENTS, "query-status");
    /* a swap from query-stats (and two edits from query-status) finds query-stats */
    expect_suggestion("query-stast", QMP_SCHEMA_COMMANDS, "query-stats");
    expect_suggestion("query-statuss", QMP_SCHEMA_COMMANDS, "query-status");
    expect_suggestion("blockdev-ad", QMP_SCHEMA_COMMANDS, "blockdev-add");
    expect_suggestion("device-add", QMP_SCHEMA_COMMANDS, "device_add");
    /* swaps in events; an event is not offered for commands only, nor a command for events */
    expect_suggestion("SHUTDWON", QMP_SCHEMA_EVENTS, "SHUTDOWN");
    expect_suggestion("SHUTDWON", QMP_SCHEMA_COMMANDS | QMP_SCHEMA_EVENTS, "SHUTDOWN");
    expect_suggestion("SHUTDWON", QMP_SCHEMA_COMMANDS, NULL);
    expect_suggestion("BLOCK_JOB_COMPLETDE", QMP_SCHEMA_EVENTS, "BLOCK_JOB_COMPLETED");
    expect_suggestion("query-statsu", QMP_SCHEMA_EVENTS, NULL);
    /* nothing close; a name of the schema is not suggested for itself */
    expect_suggestion("frobnicate", QMP_SCHEMA_COMMANDS | QMP_SCHEMA_EVENTS, NULL);
    expect_suggestion("query-status", QMP_SCHEMA_COMMANDS, NULL);
    expect_suggestion("", QMP_SCHEMA_COMMANDS, NULL);
    /* a third of the length: 4 letters allow 1 edit, so one swap finds stop and two do not */
    expect_suggestion("stpo", QMP_SCHEMA_COMMANDS, "stop");
    expect_suggestion("tsop", QMP_SCHEMA_COMMANDS, "stop");
    expect_suggestion("tspo", QMP_SCHEMA_COMMANDS, NULL);

    /* bad arguments: QMP_EINVAL, and *out is NULL */
    char *out = (char *)(uintptr_t)1;
    assert_int_equal(qmp_schema_suggest(NULL, "stpo", QMP_SCHEMA_COMMANDS, &out), QMP_EINVAL);
    expect_einval("suggest(NULL)");
    assert_null(out);
    out = (char *)(uintptr_t)1;
    assert_int_equal(qmp_schema_suggest(g_schema, NULL, QMP_SCHEMA_COMMANDS, &out), QMP_EINVAL);
    expect_einval("suggest(s, NULL)");
    assert_null(out);
    assert_int_equal(qmp_schema_suggest(g_schema, "stpo", QMP_SCHEMA_COMMANDS, NULL), QMP_EINVAL);
    expect_einval("suggest(out NULL)");
    out = (char *)(uintptr_t)1;
    assert_int_equal(qmp_schema_suggest(g_schema, "stpo", 0, &out), QMP_EINVAL);
    expect_einval("suggest what 0");
    assert_null(out);
    assert_int_equal(qmp_schema_suggest(g_schema, "stpo", 4, &out), QMP_EINVAL);
    expect_einval("suggest what 4");
    assert_null(out);
}

/* ---- arguments -------------------------------------------------------------------- */

static const json_t *find_arg(const json_t *args, const char *name, const char *variant)
{
    size_t i;
    const json_t *a;
    json_array_foreach(args, i, a) {
        const char *v = raw_str(a, "variant");
        if (strcmp(raw_str(a, "name"), name) == 0 &&
            ((!variant && !v) || (variant && v && strcmp(v, variant) == 0)))
            return a;
    }
    fail_msg("no argument %s (variant %s)", name, variant ? variant : "none");
    return NULL;
}

/*
 * The (name, optional, tag, variant) sequence the header promises for a
 * command's or event's arguments, worked out from the raw file: the members
 * of arg-type in order, then for each branch in order its members, with the
 * tag and the branch's value.  (No branch of 7.2 is a union itself.)
 */
static void check_argument_order(const char *command)
{
    const json_t *arg = raw_entity(raw_str(raw_entity(command), "arg-type"));
    json_t *got = qmp_schema_arguments(g_schema, command);
    assert_non_null(got);
    size_t k = 0, i, j;
    const json_t *m, *v;
    json_array_foreach(json_object_get(arg, "members"), i, m) {
        const json_t *g = json_array_get(got, k++);
        assert_non_null(g);
        assert_string_equal(raw_str(g, "name"), raw_str(m, "name"));
        assert_int_equal(json_is_true(json_object_get(g, "optional")), json_object_get(m, "default") != NULL);
        assert_null(json_object_get(g, "tag"));
        assert_null(json_object_get(g, "variant"));
    }
    const char *tag = raw_str(arg, "tag");
    json_array_foreach(json_object_get(arg, "variants"), i, v) {
        const json_t *branch = raw_entity(raw_str(v, "type"));
        assert_null(json_object_get(branch, "tag"));
        json_array_foreach(json_object_get(branch, "members"), j, m) {
            const json_t *g = json_array_get(got, k++);
            assert_non_null(g);
            assert_string_equal(raw_str(g, "name"), raw_str(m, "name"));
            assert_int_equal(json_is_true(json_object_get(g, "optional")), json_object_get(m, "default") != NULL);
            assert_string_equal(raw_str(g, "tag"), tag);
            assert_string_equal(raw_str(g, "variant"), raw_str(v, "case"));
        }
    }
    assert_int_equal(json_array_size(got), k);
    json_decref(got);
}

static void test_arguments(void **state)
{
    (void)state;
    check_argument_order("blockdev-add");
    check_argument_order("object-add");
    check_argument_order("drive-mirror");
    check_argument_order("SHUTDOWN");
    check_argument_order("query-status");

    json_t *a = qmp_schema_arguments(g_schema, "blockdev-add");
    assert_non_null(a);
    check_json(find_arg(a, "driver", NULL), "{\"name\":\"driver\",\"type\":\"enum\",\"optional\":false,\"values\":["
               "\"blkdebug\",\"blklogwrites\",\"blkreplay\",\"blkverify\",\"bochs\",\"cloop\",\"compress\","
               "\"copy-before-write\",\"copy-on-read\",\"dmg\",\"file\",\"snapshot-access\",\"ftp\",\"ftps\","
               "\"gluster\",\"host_cdrom\",\"host_device\",\"http\",\"https\",\"iscsi\",\"luks\",\"nbd\",\"nfs\","
               "\"null-aio\",\"null-co\",\"nvme\",\"parallels\",\"preallocate\",\"qcow\",\"qcow2\",\"qed\","
               "\"quorum\",\"raw\",\"rbd\",\"replication\",\"ssh\",\"throttle\",\"vdi\",\"vhdx\",\"vmdk\",\"vpc\","
               "\"vvfat\"]}");
    check_json(find_arg(a, "node-name", NULL), "{\"name\":\"node-name\",\"type\":\"str\",\"optional\":true}");
    check_json(find_arg(a, "cache", NULL), "{\"name\":\"cache\",\"type\":\"object\",\"optional\":true}");
    check_json(find_arg(a, "aio", "file"), "{\"name\":\"aio\",\"type\":\"enum\",\"optional\":true,"
               "\"values\":[\"threads\",\"native\",\"io_uring\"],\"tag\":\"driver\",\"variant\":\"file\"}");
    /* host_device has the same branch type as file: its members again, under its own value */
    check_json(find_arg(a, "aio", "host_device"), "{\"name\":\"aio\",\"type\":\"enum\",\"optional\":true,"
               "\"values\":[\"threads\",\"native\",\"io_uring\"],\"tag\":\"driver\",\"variant\":\"host_device\"}");
    check_json(find_arg(a, "filename", "file"),
               "{\"name\":\"filename\",\"type\":\"str\",\"optional\":false,\"tag\":\"driver\",\"variant\":\"file\"}");
    check_json(find_arg(a, "x-check-cache-dropped", "file"),
               "{\"name\":\"x-check-cache-dropped\",\"type\":\"bool\",\"optional\":true,"
               "\"features\":[\"unstable\"],\"tag\":\"driver\",\"variant\":\"file\"}");
    check_json(find_arg(a, "aio-max-batch", "file"),
               "{\"name\":\"aio-max-batch\",\"type\":\"int\",\"optional\":true,\"tag\":\"driver\",\"variant\":\"file\"}");
    /* alternates: 518 is 49|str, 527 is 49|str|null, 528 is 639|enum 640 (values given) */
    check_json(find_arg(a, "file", "qcow2"),
               "{\"name\":\"file\",\"type\":\"object|str\",\"optional\":false,\"tag\":\"driver\",\"variant\":\"qcow2\"}");
    check_json(find_arg(a, "backing", "qcow2"), "{\"name\":\"backing\",\"type\":\"object|str|null\",\"optional\":true,"
               "\"tag\":\"driver\",\"variant\":\"qcow2\"}");
    check_json(find_arg(a, "overlap-check", "qcow2"), "{\"name\":\"overlap-check\",\"type\":\"object|enum\","
               "\"optional\":true,\"values\":[\"none\",\"constant\",\"cached\",\"all\"],"
               "\"tag\":\"driver\",\"variant\":\"qcow2\"}");
    json_decref(a);

    a = qmp_schema_arguments(g_schema, "block-dirty-bitmap-merge");
    check_json(find_arg(a, "bitmaps", NULL), "{\"name\":\"bitmaps\",\"type\":\"[str|object]\",\"optional\":false}");
    json_decref(a);
    a = qmp_schema_arguments(g_schema, "migrate-set-capabilities");
    check_json(a, "[{\"name\":\"capabilities\",\"type\":\"[object]\",\"optional\":false}]");
    json_decref(a);
    a = qmp_schema_arguments(g_schema, "eject");
    check_json(a, "[{\"name\":\"device\",\"type\":\"str\",\"optional\":true,\"features\":[\"deprecated\"]},"
                  "{\"name\":\"id\",\"type\":\"str\",\"optional\":true},"
                  "{\"name\":\"force\",\"type\":\"bool\",\"optional\":true}]");
    json_decref(a);
    a = qmp_schema_arguments(g_schema, "qom-set");
    check_json(find_arg(a, "value", NULL), "{\"name\":\"value\",\"type\":\"any\",\"optional\":false}");
    json_decref(a);
    /* an event */
    a = qmp_schema_arguments(g_schema, "SHUTDOWN");
    check_json(find_arg(a, "guest", NULL), "{\"name\":\"guest\",\"type\":\"bool\",\"optional\":false}");
    json_decref(a);
    /* no arguments: an empty array */
    a = qmp_schema_arguments(g_schema, "query-status");
    check_json(a, "[]");
    json_decref(a);

    /* neither a command nor an event */
    assert_null(qmp_schema_arguments(g_schema, "no-such-command"));
    expect_einval("arguments of an unknown name");
    assert_null(qmp_schema_arguments(g_schema, "49"));
    expect_einval("arguments of a type");
    assert_null(qmp_schema_arguments(g_schema, "str"));
    expect_einval("arguments of a built-in");
}

/* An array of enums gets "values" too: the header says so; 7.2 has such
 * arguments only deep inside objects, so a small schema of our own. */
static const char mini_schema[] =
    "[{\"name\":\"setf\",\"meta-type\":\"command\",\"arg-type\":\"0\",\"ret-type\":\"1\"},"
    " {\"name\":\"old\",\"meta-type\":\"command\",\"arg-type\":\"1\",\"ret-type\":\"1\","
    "  \"features\":[\"deprecated\",\"unstable\"]},"
    " {\"name\":\"0\",\"meta-type\":\"object\",\"members\":["
    "   {\"name\":\"f\",\"type\":\"number\"},"
    "   {\"name\":\"colors\",\"type\":\"[2]\",\"default\":null},"
    "   {\"name\":\"n\",\"type\":\"null\",\"default\":null},"
    "   {\"name\":\"legacy\",\"type\":\"3\",\"default\":null}]},"
    " {\"name\":\"1\",\"meta-type\":\"object\",\"members\":[]},"
    " {\"name\":\"2\",\"meta-type\":\"enum\",\"values\":[\"red\",\"green\"]},"
    " {\"name\":\"3\",\"meta-type\":\"enum\",\"members\":[{\"name\":\"a\"},"
    "   {\"name\":\"b\",\"features\":[\"deprecated\",\"unstable\"]}]},"
    " {\"name\":\"[2]\",\"meta-type\":\"array\",\"element-type\":\"2\"},"
    " {\"name\":\"number\",\"meta-type\":\"builtin\",\"json-type\":\"number\"},"
    " {\"name\":\"null\",\"meta-type\":\"builtin\",\"json-type\":\"null\"}]";

static int mini_validate(qmp_schema *s, const char *cmd_json, int flags, json_t **warnings)
{
    json_t *cmd = json_loads(cmd_json, 0, NULL);
    assert_non_null(cmd);
    int rc = qmp_schema_validate(s, cmd, flags, warnings);
    json_decref(cmd);
    return rc;
}

static void test_small_schema(void **state)
{
    (void)state;
    qmp_schema *s = qmp_schema_new_str(mini_schema, strlen(mini_schema));
    if (!s)
        fail_msg("%s", qmp_error_last()->message);
    json_t *a = qmp_schema_arguments(s, "setf");
    check_json(find_arg(a, "colors", NULL),
               "{\"name\":\"colors\",\"type\":\"[enum]\",\"optional\":true,\"values\":[\"red\",\"green\"]}");
    check_json(find_arg(a, "f", NULL), "{\"name\":\"f\",\"type\":\"number\",\"optional\":false}");
    check_json(find_arg(a, "n", NULL), "{\"name\":\"n\",\"type\":\"null\",\"optional\":true}");
    json_decref(a);
    /* an enum of the pre-6.2 form ("values") */
    assert_int_equal(qmp_schema_has(s, "setf/arg-type/colors/^green"), 1);
    assert_int_equal(qmp_schema_has(s, "setf/arg-type/colors/^blue"), 0);
    assert_int_equal(qmp_schema_has(s, "setf/arg-type/f/!number"), 1);
    assert_int_equal(qmp_schema_has(s, "setf/arg-type/legacy/^b/$unstable"), 1);

    /* number: integers and reals; nothing else */
    assert_int_equal(mini_validate(s, "{\"execute\":\"setf\",\"arguments\":{\"f\":1}}", 0, NULL), 0);
    assert_int_equal(mini_validate(s, "{\"execute\":\"setf\",\"arguments\":{\"f\":-2.5e3}}", 0, NULL), 0);
    assert_int_equal(mini_validate(s, "{\"execute\":\"setf\",\"arguments\":{\"f\":\"1\"}}", 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "setf: arguments.f: expected number, got string");
    assert_int_equal(mini_validate(s, "{\"execute\":\"setf\",\"arguments\":{\"f\":true}}", 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "setf: arguments.f: expected number, got boolean");
    /* null: only null */
    assert_int_equal(mini_validate(s, "{\"execute\":\"setf\",\"arguments\":{\"f\":1,\"n\":null}}", 0, NULL), 0);
    assert_int_equal(mini_validate(s, "{\"execute\":\"setf\",\"arguments\":{\"f\":1,\"n\":0}}", 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "setf: arguments.n: expected null, got integer");
    /* an array of enums: the bad element's path */
    assert_int_equal(mini_validate(s, "{\"execute\":\"setf\",\"arguments\":{\"f\":1,\"colors\":[\"red\",\"blue\"]}}",
                                   0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "setf: arguments.colors[1]: 'blue' is not one of red, green");

    /* both deprecated and unstable: each deny flag refuses it, and without them it is flagged once */
    json_t *w = NULL;
    assert_int_equal(mini_validate(s, "{\"execute\":\"old\"}", 0, &w), 0);
    assert_int_equal(json_array_size(w), 1);
    json_decref(w);
    assert_int_equal(mini_validate(s, "{\"execute\":\"old\"}", QMP_VALIDATE_DENY_DEPRECATED, NULL), QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "deprecated"));
    assert_int_equal(mini_validate(s, "{\"execute\":\"old\"}", QMP_VALIDATE_DENY_UNSTABLE, NULL), QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "unstable"));
    assert_int_equal(mini_validate(s, "{\"execute\":\"setf\",\"arguments\":{\"f\":1,\"legacy\":\"b\"}}",
                                   QMP_VALIDATE_DENY_UNSTABLE, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message,
                        "setf: arguments.legacy: value 'b' is unstable (refused by QMP_VALIDATE_DENY_UNSTABLE)");
    qmp_schema_unref(s);
}

/* ---- describe ------------------------------------------------------------------------ */

static const json_t *member_of(const json_t *obj, const char *name)
{
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(obj, "members"), i, m) {
        if (strcmp(raw_str(m, "name"), name) == 0)
            return m;
    }
    fail_msg("no member %s", name);
    return NULL;
}

static void test_describe_command(void **state)
{
    (void)state;
    json_t *d = qmp_schema_describe(g_schema, "drive-mirror");
    assert_non_null(d);
    assert_string_equal(raw_str(d, "name"), "drive-mirror");
    assert_string_equal(raw_str(d, "meta-type"), "command");
    assert_true(json_is_false(json_object_get(d, "allow-oob")));
    assert_null(json_object_get(d, "features"));
    check_json(json_object_get(d, "returns"), "{\"type\":\"object\",\"members\":[]}");
    const json_t *args = json_object_get(d, "arguments");
    assert_string_equal(raw_str(args, "type"), "object");
    assert_null(json_object_get(args, "tag"));
    assert_null(json_object_get(args, "variants"));
    /* every member of 35, in order */
    const json_t *raw = json_object_get(raw_entity("35"), "members");
    assert_int_equal(json_array_size(json_object_get(args, "members")), json_array_size(raw));
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(args, "members"), i, m) {
        assert_string_equal(raw_str(m, "name"), raw_str(json_array_get(raw, i), "name"));
    }
    check_json(member_of(args, "sync"), "{\"name\":\"sync\",\"optional\":false,\"type\":{\"type\":\"enum\","
               "\"values\":[\"top\",\"full\",\"none\",\"incremental\",\"bitmap\"]}}");
    check_json(member_of(args, "speed"), "{\"name\":\"speed\",\"optional\":true,\"type\":{\"type\":\"int\"}}");
    json_decref(d);

    d = qmp_schema_describe(g_schema, "migrate-pause");
    check_json(d, "{\"name\":\"migrate-pause\",\"meta-type\":\"command\",\"arguments\":{\"type\":\"object\","
                  "\"members\":[]},\"returns\":{\"type\":\"object\",\"members\":[]},\"allow-oob\":true}");
    json_decref(d);

    d = qmp_schema_describe(g_schema, "drive-backup");
    check_json(json_object_get(d, "features"), "[\"deprecated\"]");
    /* x-perf: unstable member of the object 282 */
    const json_t *xp = member_of(json_object_get(d, "arguments"), "x-perf");
    check_json(json_object_get(xp, "features"), "[\"unstable\"]");
    assert_string_equal(raw_str(json_object_get(xp, "type"), "type"), "object");
    json_decref(d);

    /* query-qmp-schema returns [175]: an array of the union on meta-type */
    d = qmp_schema_describe(g_schema, "query-qmp-schema");
    const json_t *ret = json_object_get(d, "returns");
    assert_string_equal(raw_str(ret, "type"), "array");
    const json_t *el = json_object_get(ret, "element");
    assert_string_equal(raw_str(el, "tag"), "meta-type");
    const json_t *en = json_object_get(json_object_get(el, "variants"), "enum");
    check_json(json_object_get(member_of(en, "values"), "features"), "[\"deprecated\"]");
    assert_int_equal(json_object_size(json_object_get(el, "variants")), 7);
    json_decref(d);
}

static void test_describe_event_and_types(void **state)
{
    (void)state;
    json_t *d = qmp_schema_describe(g_schema, "SHUTDOWN");
    assert_non_null(d);
    assert_string_equal(raw_str(d, "meta-type"), "event");
    assert_null(json_object_get(d, "returns"));
    assert_null(json_object_get(d, "allow-oob"));
    assert_null(json_object_get(d, "features"));
    check_json(member_of(json_object_get(d, "arguments"), "guest"),
               "{\"name\":\"guest\",\"optional\":false,\"type\":{\"type\":\"bool\"}}");
    json_decref(d);

    d = qmp_schema_describe(g_schema, "MEM_UNPLUG_ERROR");
    check_json(json_object_get(d, "features"), "[\"deprecated\"]");
    json_decref(d);

    d = qmp_schema_describe(g_schema, "str");
    check_json(d, "{\"type\":\"str\",\"name\":\"str\"}");
    json_decref(d);

    d = qmp_schema_describe(g_schema, "523");
    check_json(d, "{\"name\":\"523\",\"type\":\"enum\",\"values\":[\"threads\",\"native\",\"io_uring\"]}");
    json_decref(d);

    d = qmp_schema_describe(g_schema, "407");
    check_json(json_object_get(d, "value-features"), "{\"x-colo\":[\"unstable\"],\"x-ignore-shared\":[\"unstable\"]}");
    json_decref(d);

    d = qmp_schema_describe(g_schema, "301");
    assert_string_equal(raw_str(d, "name"), "301");
    assert_string_equal(raw_str(d, "type"), "object");
    check_json(json_object_get(d, "features"), "[\"dynamic-auto-read-only\"]");
    check_json(member_of(d, "aio"), "{\"name\":\"aio\",\"optional\":true,\"type\":{\"type\":\"enum\","
               "\"values\":[\"threads\",\"native\",\"io_uring\"]}}");
    json_decref(d);

    d = qmp_schema_describe(g_schema, "626");
    check_json(d, "{\"name\":\"626\",\"type\":\"alternate\",\"alternatives\":[{\"type\":\"int\"},{\"type\":\"bool\"},"
                  "{\"type\":\"array\",\"element\":{\"type\":\"int\"}}]}");
    json_decref(d);

    assert_null(qmp_schema_describe(g_schema, "no-such-thing"));
    expect_einval("describe of an unknown name");
}

/* blockdev-add's arguments refer to themselves (qcow2's file is 49 | str):
 * the description cuts the cycle where 49 appears again under itself. */
static void test_describe_recursive(void **state)
{
    (void)state;
    json_t *d = qmp_schema_describe(g_schema, "blockdev-add");
    assert_non_null(d);
    const json_t *args = json_object_get(d, "arguments");
    assert_string_equal(raw_str(args, "tag"), "driver");
    assert_null(json_object_get(args, "recursive"));
    const json_t *vars = json_object_get(args, "variants");
    assert_int_equal(json_object_size(vars), json_array_size(json_object_get(raw_entity("49"), "variants")));
    const json_t *file = member_of(json_object_get(vars, "qcow2"), "file");
    const json_t *t = json_object_get(file, "type");
    assert_string_equal(raw_str(t, "type"), "alternate");
    check_json(json_object_get(t, "alternatives"), "[{\"type\":\"object\",\"recursive\":true},{\"type\":\"str\"}]");
    /* the file branch's members are there in full */
    check_json(member_of(json_object_get(vars, "file"), "drop-cache"),
               "{\"name\":\"drop-cache\",\"optional\":true,\"type\":{\"type\":\"bool\"}}");
    json_decref(d);

    /* a type that is not under itself is expanded: the cache object 293 */
    d = qmp_schema_describe(g_schema, "293");
    assert_null(json_object_get(d, "recursive"));
    assert_int_equal(json_array_size(json_object_get(d, "members")), 2);
    json_decref(d);
}

/* ---- malformed schemas ---------------------------------------------------------------- */

static void expect_bad_schema(const char *text, const char *mention)
{
    qmp_schema *s = qmp_schema_new_str(text, strlen(text));
    if (s) {
        qmp_schema_unref(s);
        fail_msg("accepted: %s", text);
    }
    expect_einval(text);
    if (mention && !strstr(qmp_error_last()->message, mention))
        fail_msg("message \"%s\" does not mention %s", qmp_error_last()->message, mention);
    /* the same through the tree constructor */
    json_t *tree = json_loads(text, JSON_DECODE_ANY, NULL);
    if (tree) {
        assert_null(qmp_schema_new(tree));
        expect_einval(text);
        if (mention && !strstr(qmp_error_last()->message, mention))
            fail_msg("tree: message \"%s\" does not mention %s", qmp_error_last()->message, mention);
        json_decref(tree);
    }
}

#define STR_BUILTIN "{\"name\":\"str\",\"meta-type\":\"builtin\",\"json-type\":\"string\"}"
#define EMPTY_OBJ "{\"name\":\"0\",\"meta-type\":\"object\",\"members\":[]}"

static void test_malformed_schemas(void **state)
{
    (void)state;
    expect_bad_schema("{\"a\":1}", NULL);
    expect_bad_schema("{\"return\":{}}", NULL);
    expect_bad_schema("42", NULL);
    expect_bad_schema("[", NULL);
    expect_bad_schema("", NULL);
    expect_bad_schema("[5]", NULL);
    /* missing name */
    expect_bad_schema("[" STR_BUILTIN ",{\"meta-type\":\"builtin\",\"json-type\":\"int\"}]", "element 1");
    /* dangling references: ret-type, a member's type, an array's element, a variant */
    expect_bad_schema("[" EMPTY_OBJ ",{\"name\":\"cmd\",\"meta-type\":\"command\",\"arg-type\":\"0\","
                      "\"ret-type\":\"nope\"}]", "'cmd'");
    expect_bad_schema("[" EMPTY_OBJ ",{\"name\":\"cmd\",\"meta-type\":\"command\",\"arg-type\":\"0\","
                      "\"ret-type\":\"nope\"}]", "nope");
    expect_bad_schema("[{\"name\":\"T\",\"meta-type\":\"object\",\"members\":[{\"name\":\"m\",\"type\":\"U\"}]}]",
                      "'T");
    expect_bad_schema("[{\"name\":\"[U]\",\"meta-type\":\"array\",\"element-type\":\"U\"}]", "'[U]'");
    expect_bad_schema("[" STR_BUILTIN ",{\"name\":\"A\",\"meta-type\":\"alternate\",\"members\":[{\"type\":\"str\"},"
                      "{\"type\":\"V\"}]}]", "'A'");
    /* unknown meta-type */
    expect_bad_schema("[{\"name\":\"weird\",\"meta-type\":\"struct\",\"members\":[]}]", "'weird'");
    /* duplicate name */
    expect_bad_schema("[" STR_BUILTIN "," STR_BUILTIN "]", "'str'");
    /* missing members the meta-types need */
    expect_bad_schema("[" EMPTY_OBJ ",{\"name\":\"cmd2\",\"meta-type\":\"command\",\"ret-type\":\"0\"}]", "'cmd2'");
    expect_bad_schema("[{\"name\":\"E\",\"meta-type\":\"enum\"}]", "'E'");
    expect_bad_schema("[{\"name\":\"B\",\"meta-type\":\"builtin\"}]", "'B'");
    expect_bad_schema("[{\"name\":\"O\",\"meta-type\":\"object\"}]", "'O'");
    expect_bad_schema("[{\"name\":\"M\",\"meta-type\":\"builtin\",\"json-type\":\"int\",\"features\":[1]}]", "'M'");
    /* a union whose tag is not a member, a variant that is not an object */
    expect_bad_schema("[" STR_BUILTIN ",{\"name\":\"U\",\"meta-type\":\"object\",\"members\":[],\"tag\":\"t\","
                      "\"variants\":[]}]", "'U'");
    expect_bad_schema("[" STR_BUILTIN ",{\"name\":\"U2\",\"meta-type\":\"object\",\"members\":[{\"name\":\"t\","
                      "\"type\":\"str\"}],\"tag\":\"t\",\"variants\":[{\"case\":\"a\",\"type\":\"str\"}]}]", "'U2'");
    /* a command whose arguments are not an object */
    expect_bad_schema("[" STR_BUILTIN "," EMPTY_OBJ ",{\"name\":\"c3\",\"meta-type\":\"command\",\"arg-type\":\"str\","
                      "\"ret-type\":\"0\"}]", "'c3'");
    assert_null(qmp_schema_new(NULL));
    expect_einval("qmp_schema_new(NULL)");
    assert_null(qmp_schema_new_str(NULL, 0));
    expect_einval("qmp_schema_new_str(NULL)");

    /* the empty schema is a schema */
    qmp_schema *s = qmp_schema_new_str("[]", 2);
    assert_non_null(s);
    json_t *l = qmp_schema_list(s, QMP_SCHEMA_COMMANDS);
    check_json(l, "[]");
    json_decref(l);
    json_t *cmd = qmp_command_new("query-status", NULL);
    assert_int_equal(qmp_schema_validate(s, cmd, 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "query-status: unknown command");
    json_decref(cmd);
    qmp_schema_unref(s);
}

/* ---- references, NULLs, flags ------------------------------------------------------------ */

static void test_ref_unref(void **state)
{
    (void)state;
    qmp_schema *s = qmp_schema_new_str(g_text, g_len);
    assert_non_null(s);
    assert_ptr_equal(qmp_schema_ref(s), s);
    assert_ptr_equal(qmp_schema_ref(s), s);
    qmp_schema_unref(s);
    qmp_schema_unref(s);
    /* still one reference: still usable (valgrind sees any early free) */
    assert_int_equal(qmp_schema_has(s, "blockdev-add/arg-type/+file/drop-cache"), 1);
    qmp_schema_unref(s);
    qmp_schema_unref(NULL);
    assert_null(qmp_schema_ref(NULL));
}

static void test_null_arguments(void **state)
{
    (void)state;
    assert_int_equal(qmp_schema_has(NULL, "blockdev-add"), QMP_EINVAL);
    expect_einval("has(NULL)");
    assert_int_equal(qmp_schema_has(g_schema, NULL), QMP_EINVAL);
    expect_einval("has(s, NULL)");
    assert_null(qmp_schema_list(NULL, QMP_SCHEMA_COMMANDS));
    expect_einval("list(NULL)");
    assert_null(qmp_schema_arguments(NULL, "blockdev-add"));
    expect_einval("arguments(NULL)");
    assert_null(qmp_schema_arguments(g_schema, NULL));
    expect_einval("arguments(s, NULL)");
    assert_null(qmp_schema_describe(NULL, "blockdev-add"));
    expect_einval("describe(NULL)");
    assert_null(qmp_schema_describe(g_schema, NULL));
    expect_einval("describe(s, NULL)");

    json_t *cmd = qmp_command_new("query-status", NULL);
    json_t *w = (json_t *)(uintptr_t)1;
    assert_int_equal(qmp_schema_validate(NULL, cmd, 0, &w), QMP_EINVAL);
    expect_einval("validate(NULL)");
    assert_null(w);
    w = (json_t *)(uintptr_t)1;
    assert_int_equal(qmp_schema_validate(g_schema, NULL, 0, &w), QMP_EINVAL);
    expect_einval("validate(s, NULL)");
    assert_null(w);
    json_decref(cmd);

    assert_null(qmp_client_get_schema(NULL, 0));
    expect_einval("get_schema(NULL)");
    assert_int_equal(qmp_client_schema_has(NULL, "x"), QMP_EINVAL);
    assert_int_equal(qmp_client_set_validation(NULL, QMP_VALIDATE), QMP_EINVAL);
    assert_int_equal(qmp_client_get_validation(NULL), 0);
}

static void test_bad_flags(void **state)
{
    (void)state;
    json_t *cmd = qmp_command_new("query-status", NULL);
    json_t *w = (json_t *)(uintptr_t)1;
    assert_int_equal(qmp_schema_validate(g_schema, cmd, 8, &w), QMP_EINVAL);
    expect_einval("flags 8");
    assert_null(w);
    assert_int_equal(qmp_schema_validate(g_schema, cmd, -1, NULL), QMP_EINVAL);
    expect_einval("flags -1");
    assert_int_equal(qmp_schema_validate(g_schema, cmd, QMP_VALIDATE_OFF, NULL), QMP_EINVAL);
    expect_einval("QMP_VALIDATE_OFF is for exec options only");
    /* 0: QMP_VALIDATE is implied */
    assert_int_equal(qmp_schema_validate(g_schema, cmd, 0, &w), 0);
    check_json(w, "[]");
    json_decref(w);
    json_decref(cmd);
    assert_null(qmp_schema_list(g_schema, 0));
    expect_einval("list 0");
    assert_null(qmp_schema_list(g_schema, QMP_SCHEMA_COMMANDS | QMP_SCHEMA_EVENTS));
    expect_einval("list 3");

    /* a client that is not connected: flags are checked, and nothing is fetched */
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_set_validation(c, 8), QMP_EINVAL);
    assert_int_equal(qmp_client_set_validation(c, -1), QMP_EINVAL);
    assert_int_equal(qmp_client_get_validation(c), 0);
    assert_int_equal(qmp_client_set_validation(c, QMP_VALIDATE_DENY_UNSTABLE), 0);
    assert_int_equal(qmp_client_get_validation(c), QMP_VALIDATE | QMP_VALIDATE_DENY_UNSTABLE);
    assert_int_equal(qmp_client_set_validation(c, 0), 0);
    assert_int_equal(qmp_client_get_validation(c), 0);
    assert_null(qmp_client_get_schema(c, 0));
    assert_int_equal(qmp_error_last()->code, QMP_ECLOSED);
    assert_int_equal(qmp_client_schema_has(c, "blockdev-add"), QMP_ECLOSED);
    qmp_client_free(c);
}

/* Commands that are not commands. */
static void test_not_commands(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]", "{}", "{\"execute\":5}", "{\"arguments\":{}}", "\"query-status\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *cmd = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(cmd);
        assert_int_equal(qmp_schema_validate(g_schema, cmd, 0, NULL), QMP_EINVAL);
        expect_einval(bad[i]);
        json_decref(cmd);
    }
    /* arguments that are not an object (the client refuses these before validating; the schema says why) */
    json_t *cmd = json_loads("{\"execute\":\"blockdev-del\",\"arguments\":[\"n0\"]}", 0, NULL);
    assert_int_equal(qmp_schema_validate(g_schema, cmd, 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "blockdev-del: arguments: expected an object, got array");
    json_decref(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_table),
        cmocka_unit_test(test_verdict_table),
        cmocka_unit_test(test_documented_examples),
        cmocka_unit_test(test_libvirt_drive_mirror),
        cmocka_unit_test(test_new_from_tree_equals_text),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_small_schema),
        cmocka_unit_test(test_describe_command),
        cmocka_unit_test(test_describe_event_and_types),
        cmocka_unit_test(test_describe_recursive),
        cmocka_unit_test(test_malformed_schemas),
        cmocka_unit_test(test_ref_unref),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_not_commands),
    };
    return cmocka_run_group_tests_name("unit: schema", tests, group_setup, group_teardown);
}
