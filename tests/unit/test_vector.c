/*
 * test_vector.c - unit tests of the vector layer: types (widths, names, parsing),
 * schemas, vectors and validity bitmaps, row copies, batches, value access, value
 * formatting (PostgreSQL text output), decimals and value comparison.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vector/vector.h"

/* ---------------------------------------------------------------- types */

static void test_type_width_and_names(void **state)
{
    char buf[32];
    (void)state;

    assert_int_equal(tb_type_width(tb_type_make(TB_T_NULL)), 0);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_BOOL)), 1);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_INT16)), 2);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_INT32)), 4);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_INT64)), 8);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_FLOAT)), 4);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_DOUBLE)), 8);
    assert_int_equal(tb_type_width(tb_type_decimal(10, 2)), 16);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_STRING)), sizeof(tb_str));
    assert_int_equal(tb_type_width(tb_type_make(TB_T_DATE)), 4);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_TIMESTAMP)), 8);
    assert_int_equal(tb_type_width(tb_type_make(TB_T_INTERVAL)), sizeof(tb_interval));

    assert_string_equal(tb_type_name(tb_type_make(TB_T_BOOL), buf, sizeof(buf)), "boolean");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_INT16), buf, sizeof(buf)), "smallint");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_INT32), buf, sizeof(buf)), "integer");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_INT64), buf, sizeof(buf)), "bigint");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_FLOAT), buf, sizeof(buf)), "real");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_DOUBLE), buf, sizeof(buf)),
                        "double precision");
    assert_string_equal(tb_type_name(tb_type_decimal(10, 2), buf, sizeof(buf)),
                        "numeric(10,2)");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_STRING), buf, sizeof(buf)), "text");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_DATE), buf, sizeof(buf)), "date");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_TIMESTAMP), buf, sizeof(buf)),
                        "timestamp");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_INTERVAL), buf, sizeof(buf)),
                        "interval");
    assert_string_equal(tb_type_name(tb_type_make(TB_T_NULL), buf, sizeof(buf)), "unknown");
    assert_string_equal(tb_type_id_name(TB_T_DECIMAL), "numeric");
    assert_string_equal(tb_type_id_name((tb_type_id)200), "unknown");

    assert_true(tb_type_eq(tb_type_decimal(10, 2), tb_type_decimal(10, 2)));
    assert_false(tb_type_eq(tb_type_decimal(10, 2), tb_type_decimal(10, 3)));
    assert_true(tb_type_eq(tb_type_make(TB_T_INT32), tb_type_make(TB_T_INT32)));
    assert_false(tb_type_eq(tb_type_make(TB_T_INT32), tb_type_make(TB_T_INT64)));
    assert_true(tb_type_is_integer(tb_type_make(TB_T_INT16)));
    assert_false(tb_type_is_integer(tb_type_make(TB_T_DOUBLE)));
    assert_true(tb_type_is_numeric(tb_type_make(TB_T_DOUBLE)));
    assert_true(tb_type_is_numeric(tb_type_decimal(5, 1)));
    assert_false(tb_type_is_numeric(tb_type_make(TB_T_STRING)));
    assert_false(tb_type_is_numeric(tb_type_make(TB_T_DATE)));
}

static void assert_type(const char *s, tb_type_id id, int p, int sc)
{
    tb_type t;
    tb_err err;
    if (tb_type_parse(s, &t, &err) != TB_OK)
        fail_msg("type '%s' did not parse: %s", s, err.msg);
    if (t.id != id || (id == TB_T_DECIMAL && (t.precision != p || t.scale != sc)))
        fail_msg("type '%s' parsed as %d(%d,%d)", s, t.id, t.precision, t.scale);
}

static void assert_type_bad(const char *s, const char *msg_part)
{
    tb_type t;
    tb_err err;
    tb_err_clear(&err);
    if (tb_type_parse(s, &t, &err) != TB_E_TYPE)
        fail_msg("type '%s' accepted", s);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("type '%s': message '%s' lacks '%s'", s, err.msg, msg_part);
}

static void test_type_parse(void **state)
{
    (void)state;
    assert_type("int", TB_T_INT32, 0, 0);
    assert_type("INT4", TB_T_INT32, 0, 0);
    assert_type("Integer", TB_T_INT32, 0, 0);
    assert_type("int2", TB_T_INT16, 0, 0);
    assert_type("smallint", TB_T_INT16, 0, 0);
    assert_type("int8", TB_T_INT64, 0, 0);
    assert_type("bigint", TB_T_INT64, 0, 0);
    assert_type("float4", TB_T_FLOAT, 0, 0);
    assert_type("real", TB_T_FLOAT, 0, 0);
    assert_type("float8", TB_T_DOUBLE, 0, 0);
    assert_type("double", TB_T_DOUBLE, 0, 0);
    assert_type("double precision", TB_T_DOUBLE, 0, 0);
    assert_type("  DOUBLE   PRECISION ", TB_T_DOUBLE, 0, 0);
    assert_type("float", TB_T_DOUBLE, 0, 0);
    assert_type("numeric", TB_T_DECIMAL, 38, 10);
    assert_type("decimal", TB_T_DECIMAL, 38, 10);
    assert_type("numeric(10,2)", TB_T_DECIMAL, 10, 2);
    assert_type("NUMERIC ( 10 , 2 )", TB_T_DECIMAL, 10, 2);
    assert_type("decimal(5)", TB_T_DECIMAL, 5, 0);
    assert_type("numeric(38,38)", TB_T_DECIMAL, 38, 38);
    assert_type("text", TB_T_STRING, 0, 0);
    assert_type("varchar", TB_T_STRING, 0, 0);
    assert_type("varchar(10)", TB_T_STRING, 0, 0);
    assert_type("char(3)", TB_T_STRING, 0, 0);
    assert_type("character varying(20)", TB_T_STRING, 0, 0);
    assert_type("string", TB_T_STRING, 0, 0);
    assert_type("bool", TB_T_BOOL, 0, 0);
    assert_type("boolean", TB_T_BOOL, 0, 0);
    assert_type("date", TB_T_DATE, 0, 0);
    assert_type("timestamp", TB_T_TIMESTAMP, 0, 0);
    assert_type("timestamp without time zone", TB_T_TIMESTAMP, 0, 0);
    assert_type("datetime", TB_T_TIMESTAMP, 0, 0);
    assert_type("timestamp(3)", TB_T_TIMESTAMP, 0, 0);
    assert_type("timestamptz", TB_T_TIMESTAMP, 0, 0);
    assert_type("interval", TB_T_INTERVAL, 0, 0);

    assert_type_bad("foo", "unknown type 'foo'");
    assert_type_bad("", "unknown type");
    assert_type_bad("int(3)", "unknown type");
    assert_type_bad("text(3)", "unknown type");
    assert_type_bad("numeric(0)", "precision");
    assert_type_bad("numeric(39,2)", "precision");
    assert_type_bad("numeric(10,11)", "scale");
    assert_type_bad("numeric(10,2,3)", "unknown type");
    assert_type_bad("numeric(10", "unknown type");
    assert_type_bad("numeric(a)", "unknown type");
    assert_type_bad("numeric(99999999999999999)", "precision");
    assert_type_bad("varchar(0)", "length");
    assert_type_bad("timestamp(7)", "unknown type");
    assert_type_bad("date(1)", "unknown type");
    assert_type_bad("double double", "unknown type");
    assert_type_bad("integer x", "unknown type");
    assert_type_bad("a very long type name that does not fit the normalisation buffer at all",
                    "unknown type");
    {
        tb_type t;
        assert_int_equal(tb_type_parse("nope", &t, NULL), TB_E_TYPE);
    }
}

/* ---------------------------------------------------------------- schemas */

static void test_schema(void **state)
{
    tb_schema *schema, *copy;
    (void)state;

    schema = tb_schema_new(2);
    assert_non_null(schema);
    assert_null(schema->fields[0].name);
    assert_int_equal(tb_schema_set(schema, 0, "Id", tb_type_make(TB_T_INT32), false), TB_OK);
    assert_int_equal(tb_schema_set(schema, 1, "name", tb_type_make(TB_T_STRING), true),
                     TB_OK);
    assert_int_equal(tb_schema_set(schema, 2, "x", tb_type_make(TB_T_STRING), true),
                     TB_E_MISUSE);
    /* Re-setting replaces (and frees) the old name. */
    assert_int_equal(tb_schema_set(schema, 1, "label", tb_type_make(TB_T_STRING), true),
                     TB_OK);
    assert_int_equal(tb_schema_find(schema, "id"), 0);
    assert_int_equal(tb_schema_find(schema, "LABEL"), 1);
    assert_int_equal(tb_schema_find(schema, "name"), -1);
    copy = tb_schema_copy(schema);
    assert_non_null(copy);
    assert_int_equal(copy->n, 2);
    assert_string_equal(copy->fields[0].name, "Id");
    assert_true(copy->fields[0].name != schema->fields[0].name);
    assert_false(copy->fields[0].nullable);
    assert_int_equal(copy->fields[1].type.id, TB_T_STRING);
    tb_schema_free(schema);
    tb_schema_free(copy);
    tb_schema_free(NULL);

    schema = tb_schema_new(0);
    assert_non_null(schema);
    assert_int_equal(tb_schema_find(schema, "x"), -1);
    tb_schema_free(schema);
}

static void test_schema_parse(void **state)
{
    tb_schema *schema = NULL;
    tb_err err;
    (void)state;

    assert_int_equal(
        tb_schema_parse("a int, B text, c numeric(10,2), \"Mixed Case\" timestamp not null,"
                        " d double precision",
                        &schema, &err),
        TB_OK);
    assert_int_equal(schema->n, 5);
    assert_string_equal(schema->fields[0].name, "a");
    assert_int_equal(schema->fields[0].type.id, TB_T_INT32);
    assert_true(schema->fields[0].nullable);
    assert_string_equal(schema->fields[1].name, "b");
    assert_int_equal(schema->fields[1].type.id, TB_T_STRING);
    assert_int_equal(schema->fields[2].type.id, TB_T_DECIMAL);
    assert_int_equal(schema->fields[2].type.precision, 10);
    assert_int_equal(schema->fields[2].type.scale, 2);
    assert_string_equal(schema->fields[3].name, "Mixed Case");
    assert_int_equal(schema->fields[3].type.id, TB_T_TIMESTAMP);
    assert_false(schema->fields[3].nullable);
    assert_int_equal(schema->fields[4].type.id, TB_T_DOUBLE);
    tb_schema_free(schema);

    assert_int_equal(tb_schema_parse("sale_id INT,product_id INT,ts TIMESTAMP", &schema, &err),
                     TB_OK);
    assert_int_equal(schema->n, 3);
    assert_string_equal(schema->fields[2].name, "ts");
    tb_schema_free(schema);

    tb_err_clear(&err);
    assert_int_equal(tb_schema_parse("a int, b foo", &schema, &err), TB_E_TYPE);
    assert_null(schema);
    assert_string_equal(err.msg, "schema: column 'b': unknown type 'foo'");
    assert_int_equal(tb_schema_parse("a int, a text", &schema, &err), TB_E_PARSE);
    assert_non_null(strstr(err.msg, "duplicate column 'a'"));
    assert_int_equal(tb_schema_parse("a int, b", &schema, &err), TB_E_PARSE);
    assert_non_null(strstr(err.msg, "column 'b' has no type"));
    assert_int_equal(tb_schema_parse("a int,, b int", &schema, &err), TB_E_PARSE);
    assert_int_equal(tb_schema_parse("", &schema, &err), TB_E_PARSE);
    assert_int_equal(tb_schema_parse("   ", &schema, &err), TB_E_PARSE);
    assert_int_equal(tb_schema_parse("a numeric(10,2", &schema, &err), TB_E_PARSE);
    assert_int_equal(tb_schema_parse("a int)", &schema, &err), TB_E_PARSE);
    assert_int_equal(tb_schema_parse("\"a int", &schema, &err), TB_E_PARSE);
    assert_int_equal(tb_schema_parse("\"\" int", &schema, &err), TB_E_PARSE);
    assert_null(schema);

#ifdef TB_FAULTS
    /* Every allocation failure is reported as TB_E_NOMEM, without leaks. */
    for (long n = 1;; n++) {
        tb_rc rc;
        bool fired;
        tb_fault_arm(n);
        rc = tb_schema_parse("a int, b text, c numeric(10,2)", &schema, &err);
        fired = tb_fault_fired();
        tb_fault_arm(0);
        if (!fired) {
            assert_int_equal(rc, TB_OK);
            tb_schema_free(schema);
            break;
        }
        assert_int_equal(rc, TB_E_NOMEM);
        assert_null(schema);
    }
#endif
}

/* ---------------------------------------------------------------- vectors */

static void test_vec_nulls(void **state)
{
    tb_arena *arena = tb_arena_new(0);
    tb_vec v;
    (void)state;

    assert_int_equal(tb_vec_init(&v, tb_type_make(TB_T_INT32), 200, arena), TB_OK);
    assert_null(v.valid);
    assert_non_null(v.data);
    assert_int_equal(TB_VEC_PTR(&v, int32_t)[199], 0);
    assert_int_equal(tb_vec_null_count(&v, 200), 0);
    assert_false(tb_vec_is_null(&v, 5));
    assert_int_equal(tb_vec_set_null(&v, 5, 200, arena), TB_OK);
    assert_non_null(v.valid);
    assert_true(tb_vec_is_null(&v, 5));
    assert_false(tb_vec_is_null(&v, 4));
    assert_false(tb_vec_is_null(&v, 199));
    assert_int_equal(tb_vec_set_null(&v, 64, 200, arena), TB_OK);
    assert_int_equal(tb_vec_set_null(&v, 199, 200, arena), TB_OK);
    assert_int_equal(tb_vec_null_count(&v, 200), 3);
    assert_int_equal(tb_vec_null_count(&v, 64), 1);
    assert_int_equal(tb_vec_null_count(&v, 65), 2);
    assert_int_equal(tb_vec_null_count(&v, 5), 0);
    assert_int_equal(tb_vec_null_count(&v, 0), 0);
    tb_vec_set_valid(&v, 64);
    assert_false(tb_vec_is_null(&v, 64));
    assert_int_equal(tb_vec_null_count(&v, 200), 2);
    assert_int_equal(tb_valid_words(0), 0);
    assert_int_equal(tb_valid_words(64), 1);
    assert_int_equal(tb_valid_words(65), 2);

    assert_int_equal(tb_vec_init(&v, tb_type_make(TB_T_NULL), 10, arena), TB_OK);
    assert_null(v.data);
    tb_arena_free(arena);
}

static void test_vec_copy_rows(void **state)
{
    tb_arena *arena = tb_arena_new(0), *arena2 = tb_arena_new(0);
    tb_vec src, dst, s_src, s_dst;
    uint32_t sel[] = {9, 0, 5, 5, 3};
    char *text = tb_arena_strdup(arena, "abcdefghij");
    (void)state;

    assert_int_equal(tb_vec_init(&src, tb_type_make(TB_T_INT64), 10, arena), TB_OK);
    assert_int_equal(tb_vec_init(&s_src, tb_type_make(TB_T_STRING), 10, arena), TB_OK);
    for (uint32_t i = 0; i < 10; i++) {
        TB_VEC_PTR(&src, int64_t)[i] = (int64_t)i * 100;
        TB_VEC_PTR(&s_src, tb_str)[i].ptr = text + i;
        TB_VEC_PTR(&s_src, tb_str)[i].len = 10 - i;
    }
    assert_int_equal(tb_vec_set_null(&src, 5, 10, arena), TB_OK);
    assert_int_equal(tb_vec_set_null(&s_src, 5, 10, arena), TB_OK);

    /* Contiguous copy at an offset, no NULLs in range: no bitmap made. */
    assert_int_equal(tb_vec_init(&dst, tb_type_make(TB_T_INT64), 20, arena2), TB_OK);
    assert_int_equal(tb_vec_copy_rows(&dst, 2, 20, &src, NULL, 5, false, arena2), TB_OK);
    assert_null(dst.valid);
    assert_int_equal(TB_VEC_PTR(&dst, int64_t)[2], 0);
    assert_int_equal(TB_VEC_PTR(&dst, int64_t)[6], 400);

    /* With a selection including a NULL row: bitmap made in dst. */
    assert_int_equal(tb_vec_copy_rows(&dst, 10, 20, &src, sel, 5, false, arena2), TB_OK);
    assert_non_null(dst.valid);
    assert_int_equal(TB_VEC_PTR(&dst, int64_t)[10], 900);
    assert_int_equal(TB_VEC_PTR(&dst, int64_t)[11], 0);
    assert_int_equal(TB_VEC_PTR(&dst, int64_t)[14], 300);
    assert_false(tb_vec_is_null(&dst, 10));
    assert_true(tb_vec_is_null(&dst, 12));
    assert_true(tb_vec_is_null(&dst, 13));
    assert_false(tb_vec_is_null(&dst, 14));
    assert_false(tb_vec_is_null(&dst, 2));
    assert_int_equal(tb_vec_null_count(&dst, 20), 2);
    /* Overwriting NULL rows with valid ones marks them valid. */
    assert_int_equal(tb_vec_copy_rows(&dst, 12, 20, &src, NULL, 2, false, arena2), TB_OK);
    assert_false(tb_vec_is_null(&dst, 12));
    assert_false(tb_vec_is_null(&dst, 13));

    /* Strings: shared views vs copies into the destination arena. */
    assert_int_equal(tb_vec_init(&s_dst, tb_type_make(TB_T_STRING), 10, arena2), TB_OK);
    assert_int_equal(tb_vec_copy_rows(&s_dst, 0, 10, &s_src, sel, 5, false, arena2), TB_OK);
    assert_ptr_equal(TB_VEC_PTR(&s_dst, tb_str)[0].ptr, text + 9);
    assert_int_equal(tb_vec_copy_rows(&s_dst, 0, 10, &s_src, sel, 5, true, arena2), TB_OK);
    {
        tb_str *d = TB_VEC_PTR(&s_dst, tb_str);
        assert_true(d[0].ptr != text + 9);
        assert_int_equal(d[0].len, 1);
        assert_memory_equal(d[0].ptr, "j", 1);
        assert_int_equal(d[1].len, 10);
        assert_memory_equal(d[1].ptr, "abcdefghij", 10);
        assert_true(tb_vec_is_null(&s_dst, 2));
        assert_int_equal(d[4].len, 7);
        assert_memory_equal(d[4].ptr, "defghij", 7);
    }
    /* The copies survive the source arena. */
    tb_arena_free(arena);
    arena = NULL;
    assert_memory_equal(TB_VEC_PTR(&s_dst, tb_str)[1].ptr, "abcdefghij", 10);

    tb_arena_free(arena2);
}

static void test_vec_copy_decimal(void **state)
{
    tb_arena *arena = tb_arena_new(0);
    tb_vec src, dst;
    uint32_t sel[] = {3, 1};
    (void)state;

    assert_int_equal(tb_vec_init(&src, tb_type_decimal(38, 2), 4, arena), TB_OK);
    assert_int_equal(tb_vec_init(&dst, tb_type_decimal(38, 2), 4, arena), TB_OK);
    for (int i = 0; i < 4; i++)
        TB_VEC_PTR(&src, tb_i128)[i] = tb_i128_pow10(30) * (i + 1);
    assert_int_equal(tb_vec_copy_rows(&dst, 0, 4, &src, sel, 2, false, arena), TB_OK);
    assert_true(TB_VEC_PTR(&dst, tb_i128)[0] == tb_i128_pow10(30) * 4);
    assert_true(TB_VEC_PTR(&dst, tb_i128)[1] == tb_i128_pow10(30) * 2);

    /* Intervals. */
    assert_int_equal(tb_vec_init(&src, tb_type_make(TB_T_INTERVAL), 4, arena), TB_OK);
    assert_int_equal(tb_vec_init(&dst, tb_type_make(TB_T_INTERVAL), 4, arena), TB_OK);
    TB_VEC_PTR(&src, tb_interval)[3] = (tb_interval){1, 2, 3};
    assert_int_equal(tb_vec_copy_rows(&dst, 0, 4, &src, sel, 1, false, arena), TB_OK);
    assert_int_equal(TB_VEC_PTR(&dst, tb_interval)[0].days, 2);
    assert_int_equal(TB_VEC_PTR(&dst, tb_interval)[0].micros, 3);

    /* Bools and smallints. */
    assert_int_equal(tb_vec_init(&src, tb_type_make(TB_T_INT16), 4, arena), TB_OK);
    assert_int_equal(tb_vec_init(&dst, tb_type_make(TB_T_INT16), 4, arena), TB_OK);
    TB_VEC_PTR(&src, int16_t)[1] = -7;
    assert_int_equal(tb_vec_copy_rows(&dst, 3, 4, &src, sel + 1, 1, false, arena), TB_OK);
    assert_int_equal(TB_VEC_PTR(&dst, int16_t)[3], -7);
    assert_int_equal(tb_vec_copy_rows(&dst, 0, 4, &src, NULL, 0, false, arena), TB_OK);
    tb_arena_free(arena);
}

static void test_batch(void **state)
{
    tb_arena *arena = tb_arena_new(0);
    tb_schema *schema = NULL;
    tb_batch *batch = NULL;
    (void)state;

    assert_int_equal(tb_schema_parse("a int, b text, c numeric(10,2)", &schema, NULL), TB_OK);
    assert_int_equal(tb_batch_new(schema, TB_BATCH_CAP, arena, &batch), TB_OK);
    assert_int_equal(batch->n_cols, 3);
    assert_int_equal(batch->n_rows, 0);
    assert_int_equal(batch->cap, TB_BATCH_CAP);
    assert_int_equal(batch->cols[0].type.id, TB_T_INT32);
    assert_int_equal(batch->cols[2].type.scale, 2);
    assert_non_null(batch->cols[1].data);
    TB_VEC_PTR(&batch->cols[0], int32_t)[TB_BATCH_CAP - 1] = 5;
    assert_int_equal(((uintptr_t)batch->cols[2].data) % 16, 0);

    assert_int_equal(tb_batch_shell(4, arena, &batch), TB_OK);
    assert_int_equal(batch->n_cols, 4);
    assert_null(batch->cols[3].data);
    assert_null(batch->cols[3].valid);
    tb_schema_free(schema);
    tb_arena_free(arena);
}

static void test_vec_get_put(void **state)
{
    tb_arena *arena = tb_arena_new(0);
    tb_vec v;
    tb_value in, out;
    static const tb_type_id ids[] = {TB_T_BOOL,   TB_T_INT16,  TB_T_INT32,   TB_T_INT64,
                                     TB_T_FLOAT,  TB_T_DOUBLE, TB_T_DECIMAL, TB_T_STRING,
                                     TB_T_DATE,   TB_T_TIMESTAMP, TB_T_INTERVAL};
    (void)state;

    for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
        tb_type t = ids[k] == TB_T_DECIMAL ? tb_type_decimal(20, 3) : tb_type_make(ids[k]);
        assert_int_equal(tb_vec_init(&v, t, 100, arena), TB_OK);
        memset(&in, 0, sizeof(in));
        in.type = t;
        switch (ids[k]) {
        case TB_T_BOOL:
            in.u.b = true;
            break;
        case TB_T_INT16:
            in.u.i = -300;
            break;
        case TB_T_INT32:
            in.u.i = -70000;
            break;
        case TB_T_INT64:
        case TB_T_TIMESTAMP:
            in.u.i = -5000000000LL;
            break;
        case TB_T_DATE:
            in.u.i = -100;
            break;
        case TB_T_FLOAT:
            in.u.d = 1.5;
            break;
        case TB_T_DOUBLE:
            in.u.d = 0.1;
            break;
        case TB_T_DECIMAL:
            in.u.dec = -tb_i128_pow10(25) - 7;
            break;
        case TB_T_STRING:
            in.u.s.ptr = "hello";
            in.u.s.len = 5;
            break;
        case TB_T_INTERVAL:
            in.u.iv = (tb_interval){1, -2, 3};
            break;
        default:
            break;
        }
        assert_int_equal(tb_vec_put(&v, 77, 100, &in, arena), TB_OK);
        tb_vec_get(&v, 77, &out);
        assert_false(out.is_null);
        assert_true(tb_type_eq(out.type, t));
        if (tb_value_cmp(&in, &out) != 0)
            fail_msg("type %d did not round trip", (int)ids[k]);
        /* NULL, then valid again. */
        in.is_null = true;
        assert_int_equal(tb_vec_put(&v, 77, 100, &in, arena), TB_OK);
        tb_vec_get(&v, 77, &out);
        assert_true(out.is_null);
        in.is_null = false;
        assert_int_equal(tb_vec_put(&v, 77, 100, &in, arena), TB_OK);
        tb_vec_get(&v, 77, &out);
        assert_false(out.is_null);
    }
    /* Type mismatch. */
    in.type = tb_type_make(TB_T_INT32);
    in.u.i = 1;
    assert_int_equal(tb_vec_put(&v, 0, 100, &in, arena), TB_E_TYPE);
    tb_arena_free(arena);
}

/* ---------------------------------------------------------------- values */

static void assert_fmt(const tb_value *val, const char *want)
{
    tb_buf buf = {0};
    assert_int_equal(tb_value_format(val, &buf), TB_OK);
    if (strcmp(tb_buf_cstr(&buf), want) != 0)
        fail_msg("formatted '%s', want '%s'", buf.data, want);
    tb_buf_free(&buf);
}

static void assert_double_fmt(double d, const char *want)
{
    tb_value v;
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(TB_T_DOUBLE);
    v.u.d = d;
    assert_fmt(&v, want);
    /* Whatever is printed reads back exactly. */
    if (isfinite(d)) {
        tb_buf buf = {0};
        tb_value_format(&v, &buf);
        assert_true(strtod(tb_buf_cstr(&buf), NULL) == d);
        tb_buf_free(&buf);
    }
}

static void assert_float_fmt(float f, const char *want)
{
    tb_value v;
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(TB_T_FLOAT);
    v.u.d = f;
    assert_fmt(&v, want);
}

static void test_format_doubles(void **state)
{
    (void)state;
    assert_double_fmt(0.1, "0.1");
    assert_double_fmt(1.5, "1.5");
    assert_double_fmt(-2.5, "-2.5");
    assert_double_fmt(1e20, "1e+20");
    assert_double_fmt(-0.0, "-0");
    assert_double_fmt(0.0, "0");
    assert_double_fmt(100, "100");
    assert_double_fmt(-42, "-42");
    assert_double_fmt(1.0 / 3, "0.3333333333333333");
    assert_double_fmt(2.0 / 3, "0.6666666666666666");
    assert_double_fmt(0.1 + 0.2, "0.30000000000000004");
    assert_double_fmt(1e15, "1e+15");
    assert_double_fmt(123456789012345.0, "123456789012345");
    assert_double_fmt(1234567890123456.0, "1.234567890123456e+15");
    assert_double_fmt(0.0001, "0.0001");
    assert_double_fmt(0.00001, "1e-05");
    assert_double_fmt(1.5e-7, "1.5e-07");
    assert_double_fmt(1e100, "1e+100");
    assert_double_fmt(5e-324, "5e-324");
    assert_double_fmt(DBL_MAX, "1.7976931348623157e+308");
    assert_double_fmt(123.456, "123.456");
    assert_double_fmt(3.141592653589793, "3.141592653589793");
    assert_double_fmt(INFINITY, "Infinity");
    assert_double_fmt(-INFINITY, "-Infinity");
    assert_double_fmt(NAN, "NaN");
    assert_double_fmt(9007199254740993.0, "9.007199254740992e+15"); /* 2^53+1 rounds */

    assert_float_fmt(0.1f, "0.1");
    assert_float_fmt(1.5f, "1.5");
    assert_float_fmt(1e6f, "1e+06");
    assert_float_fmt(123456.0f, "123456");
    assert_float_fmt(3.14159265f, "3.1415927");
    assert_float_fmt(-0.0f, "-0");
    assert_float_fmt(INFINITY, "Infinity");
    assert_float_fmt(NAN, "NaN");
    assert_float_fmt(1.0f / 3, "0.33333334");
}

static void test_format_values(void **state)
{
    tb_value v;
    (void)state;

    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(TB_T_INT64);
    v.u.i = INT64_MIN;
    assert_fmt(&v, "-9223372036854775808");
    v.u.i = 0;
    assert_fmt(&v, "0");
    v.u.i = 1234;
    assert_fmt(&v, "1234");
    v.type = tb_type_make(TB_T_INT16);
    v.u.i = -5;
    assert_fmt(&v, "-5");

    v.type = tb_type_make(TB_T_BOOL);
    v.u.i = 0;
    v.u.b = true;
    assert_fmt(&v, "true");
    v.u.b = false;
    assert_fmt(&v, "false");

    v.type = tb_type_decimal(10, 2);
    v.u.dec = 12345;
    assert_fmt(&v, "123.45");
    v.u.dec = -5;
    assert_fmt(&v, "-0.05");
    v.type = tb_type_decimal(10, 0);
    v.u.dec = 7;
    assert_fmt(&v, "7");

    v.type = tb_type_make(TB_T_DATE);
    v.u.i = 19723;
    assert_fmt(&v, "2024-01-01");
    v.type = tb_type_make(TB_T_TIMESTAMP);
    v.u.i = 19723LL * TB_USEC_PER_DAY + 500000;
    assert_fmt(&v, "2024-01-01 00:00:00.5");
    v.type = tb_type_make(TB_T_INTERVAL);
    v.u.iv = (tb_interval){14, 3, 14706000000LL};
    assert_fmt(&v, "1 year 2 mons 3 days 04:05:06");
    v.type = tb_type_make(TB_T_STRING);
    v.u.s.ptr = "with, comma";
    v.u.s.len = 4;
    assert_fmt(&v, "with");
    v.is_null = true;
    assert_fmt(&v, "");
    v.type = tb_type_make(TB_T_NULL);
    assert_fmt(&v, "");

    /* Appends. */
    {
        tb_buf buf = {0};
        memset(&v, 0, sizeof(v));
        v.type = tb_type_make(TB_T_INT32);
        v.u.i = 1;
        tb_buf_puts(&buf, "x=");
        tb_value_format(&v, &buf);
        tb_value_format(&v, &buf);
        assert_string_equal(tb_buf_cstr(&buf), "x=11");
        tb_buf_free(&buf);
    }
}

static void assert_dec_fmt(tb_i128 v, int scale, const char *want)
{
    char buf[48];
    int len = tb_i128_format(v, scale, buf);
    assert_string_equal(buf, want);
    assert_int_equal(len, (int)strlen(want));
}

static tb_i128 dec(const char *s, int scale)
{
    tb_i128 v = 0;
    if (!tb_i128_parse(s, strlen(s), scale, &v))
        fail_msg("decimal '%s' did not parse", s);
    return v;
}

static void assert_dec_bad(const char *s, int scale)
{
    tb_i128 v;
    if (tb_i128_parse(s, strlen(s), scale, &v))
        fail_msg("decimal '%s' accepted", s);
}

static void test_decimal(void **state)
{
    tb_i128 max38 = tb_i128_pow10(38) - 1;
    char buf[48];
    (void)state;

    assert_true(tb_i128_pow10(0) == 1);
    assert_true(tb_i128_pow10(18) == 1000000000000000000LL);
    assert_true(tb_i128_pow10(19) == (tb_i128)1000000000000000000LL * 10);

    assert_dec_fmt(12345, 2, "123.45");
    assert_dec_fmt(-12345, 2, "-123.45");
    assert_dec_fmt(-5, 2, "-0.05");
    assert_dec_fmt(5, 3, "0.005");
    assert_dec_fmt(0, 3, "0.000");
    assert_dec_fmt(0, 0, "0");
    assert_dec_fmt(100, 0, "100");
    assert_dec_fmt(max38, 0, "99999999999999999999999999999999999999");
    assert_dec_fmt(-max38, 38, "-0.99999999999999999999999999999999999999");
    {
        tb_i128 min = (tb_i128)((unsigned __int128)1 << 127);
        int len = tb_i128_format(min, 0, buf);
        assert_string_equal(buf, "-170141183460469231731687303715884105728");
        assert_int_equal(len, 40);
    }

    assert_true(dec("123.45", 2) == 12345);
    assert_true(dec("123.456", 2) == 12346);
    assert_true(dec("123.454", 2) == 12345);
    assert_true(dec("-1.005", 2) == -101);
    assert_true(dec("1.004", 2) == 100);
    assert_true(dec("0.5", 0) == 1);
    assert_true(dec("-0.5", 0) == -1);
    assert_true(dec("0.49999", 0) == 0);
    assert_true(dec("  +3 ", 2) == 300);
    assert_true(dec("7", 3) == 7000);
    assert_true(dec(".5", 1) == 5);
    assert_true(dec("5.", 1) == 50);
    assert_true(dec("-0", 2) == 0);
    assert_true(dec("000000000000000000000000000000000000000000012.5", 1) == 125);
    assert_true(dec("99999999999999999999999999999999999999", 0) == max38);
    assert_true(dec("-99999999999999999999999999999999999999", 0) == -max38);
    assert_true(dec("0.99999999999999999999999999999999999999", 38) == max38);
    assert_true(dec("1.123456789012345678901234567890", 2) == 112);
    assert_dec_bad("100000000000000000000000000000000000000", 0); /* 39 digits */
    assert_dec_bad("99999999999999999999999999999999999999.5", 0); /* rounds over */
    assert_dec_bad("9999999999999999999999999999999999999", 2);
    assert_dec_bad("", 0);
    assert_dec_bad(" ", 0);
    assert_dec_bad(".", 0);
    assert_dec_bad("-", 0);
    assert_dec_bad("+.", 0);
    assert_dec_bad("abc", 0);
    assert_dec_bad("1e3", 0);
    assert_dec_bad("1.2.3", 2);
    assert_dec_bad("1 2", 0);
    assert_dec_bad("--1", 0);
    assert_dec_bad("1", 39);
    /* Round trip through format. */
    for (int scale = 0; scale <= 6; scale++) {
        for (long long x = -100000; x <= 100000; x += 997) {
            tb_i128 back;
            int len = tb_i128_format(x, scale, buf);
            assert_true(tb_i128_parse(buf, (size_t)len, scale, &back));
            assert_true(back == x);
        }
    }
}

static tb_value mkval(tb_type_id id)
{
    tb_value v;
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(id);
    return v;
}

static void test_value_cmp(void **state)
{
    tb_value a = mkval(TB_T_INT64), b = mkval(TB_T_INT64);
    (void)state;

    a.u.i = 1;
    b.u.i = 2;
    assert_true(tb_value_cmp(&a, &b) < 0);
    assert_true(tb_value_cmp(&b, &a) > 0);
    b.u.i = 1;
    assert_int_equal(tb_value_cmp(&a, &b), 0);
    a.u.i = INT64_MIN;
    b.u.i = INT64_MAX;
    assert_true(tb_value_cmp(&a, &b) < 0);
    /* NULLs: equal to each other, greater than values. */
    b.is_null = true;
    assert_true(tb_value_cmp(&a, &b) < 0);
    assert_true(tb_value_cmp(&b, &a) > 0);
    a.is_null = true;
    assert_int_equal(tb_value_cmp(&a, &b), 0);

    a = mkval(TB_T_DOUBLE);
    b = mkval(TB_T_DOUBLE);
    a.u.d = NAN;
    b.u.d = INFINITY;
    assert_true(tb_value_cmp(&a, &b) > 0);
    assert_true(tb_value_cmp(&b, &a) < 0);
    b.u.d = NAN;
    assert_int_equal(tb_value_cmp(&a, &b), 0);
    b.is_null = true;
    assert_true(tb_value_cmp(&a, &b) < 0); /* NULL above NaN */
    a.u.d = -0.0;
    b.u.d = 0.0;
    b.is_null = false;
    assert_int_equal(tb_value_cmp(&a, &b), 0);
    a.u.d = -1e300;
    assert_true(tb_value_cmp(&a, &b) < 0);

    a = mkval(TB_T_STRING);
    b = mkval(TB_T_STRING);
    a.u.s = (tb_str){"abc", 3};
    b.u.s = (tb_str){"abd", 3};
    assert_true(tb_value_cmp(&a, &b) < 0);
    b.u.s = (tb_str){"ab", 2};
    assert_true(tb_value_cmp(&a, &b) > 0);
    b.u.s = (tb_str){"abcx", 3};
    assert_int_equal(tb_value_cmp(&a, &b), 0);
    a.u.s = (tb_str){"", 0};
    b.u.s = (tb_str){NULL, 0};
    assert_int_equal(tb_value_cmp(&a, &b), 0);
    a.u.s = (tb_str){"\xc3\xa9", 2}; /* bytewise: above ASCII */
    b.u.s = (tb_str){"z", 1};
    assert_true(tb_value_cmp(&a, &b) > 0);

    a = mkval(TB_T_DECIMAL);
    b = mkval(TB_T_DECIMAL);
    a.u.dec = -tb_i128_pow10(30);
    b.u.dec = 1;
    assert_true(tb_value_cmp(&a, &b) < 0);

    a = mkval(TB_T_BOOL);
    b = mkval(TB_T_BOOL);
    a.u.b = false;
    b.u.b = true;
    assert_true(tb_value_cmp(&a, &b) < 0);

    a = mkval(TB_T_INTERVAL);
    b = mkval(TB_T_INTERVAL);
    a.u.iv = (tb_interval){1, 0, 0};
    b.u.iv = (tb_interval){0, 30, 0};
    assert_int_equal(tb_value_cmp(&a, &b), 0); /* PostgreSQL: 1 mon = 30 days */
    b.u.iv.micros = 1;
    assert_true(tb_value_cmp(&a, &b) < 0);
    a.u.iv = (tb_interval){INT32_MAX, INT32_MAX, INT64_MAX};
    b.u.iv = (tb_interval){INT32_MIN, INT32_MIN, INT64_MIN};
    assert_true(tb_value_cmp(&a, &b) > 0);

    a = mkval(TB_T_DATE);
    b = mkval(TB_T_DATE);
    a.u.i = -1;
    b.u.i = 0;
    assert_true(tb_value_cmp(&a, &b) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_width_and_names),
        cmocka_unit_test(test_type_parse),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_schema_parse),
        cmocka_unit_test(test_vec_nulls),
        cmocka_unit_test(test_vec_copy_rows),
        cmocka_unit_test(test_vec_copy_decimal),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_vec_get_put),
        cmocka_unit_test(test_format_doubles),
        cmocka_unit_test(test_format_values),
        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_value_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
