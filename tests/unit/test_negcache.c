/*
 * test_negcache.c - the cache of names found missing (fs/negcache.c): an
 * answer lives ttl_ms and no longer, names and directories are told
 * apart, a full cache keeps no more live answers and makes room from
 * expired ones, and drop forgets at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "negcache.h"

static void test_an_answer_lives_ttl_and_no_longer(void **state)
{
	(void)state;
	struct pcf_negcache *nc = pcf_negcache_new(16, 1000);

	assert_non_null(nc);
	assert_int_equal(pcf_negcache_age(nc, "public", "t.csv", 0), -1);
	pcf_negcache_add(nc, "public", "t.csv", 5000);
	assert_int_equal(pcf_negcache_age(nc, "public", "t.csv", 5000), 0);
	assert_int_equal(pcf_negcache_age(nc, "public", "t.csv", 5999), 999);
	assert_int_equal(pcf_negcache_age(nc, "public", "t.csv", 6000), -1);
	/* expired entries are dropped when looked at */
	assert_int_equal(pcf_negcache_count(nc), 0);
	assert_int_equal(pcf_negcache_age(nc, "public", "t.csv", 5500), -1);
	/* a clock going back never makes an answer live again */
	pcf_negcache_add(nc, "public", "t.csv", 7000);
	assert_int_equal(pcf_negcache_age(nc, "public", "t.csv", 6999), -1);
	pcf_negcache_free(nc);
}

static void test_a_new_answer_restarts_the_clock(void **state)
{
	(void)state;
	struct pcf_negcache *nc = pcf_negcache_new(16, 1000);

	pcf_negcache_add(nc, "s", "t.csv", 0);
	pcf_negcache_add(nc, "s", "t.csv", 800);
	assert_int_equal(pcf_negcache_count(nc), 1);
	assert_int_equal(pcf_negcache_age(nc, "s", "t.csv", 1500), 700);
	pcf_negcache_free(nc);
}

static void test_names_and_directories_are_apart(void **state)
{
	(void)state;
	struct pcf_negcache *nc = pcf_negcache_new(16, 1000);

	pcf_negcache_add(nc, "ab", "c.csv", 0);
	pcf_negcache_add(nc, "sales", NULL, 0);
	assert_int_equal(pcf_negcache_age(nc, "a", "bc.csv", 1), -1);
	assert_int_equal(pcf_negcache_age(nc, "ab", "c.csv", 1), 1);
	assert_int_equal(pcf_negcache_age(nc, "sales", NULL, 1), 1);
	assert_int_equal(pcf_negcache_age(nc, "sales", "", 1), 1);
	assert_int_equal(pcf_negcache_age(nc, "sale", "s", 1), -1);
	assert_int_equal(pcf_negcache_age(nc, "ab", "C.csv", 1), -1);
	pcf_negcache_free(nc);
}

static void test_drop_forgets_at_once(void **state)
{
	(void)state;
	struct pcf_negcache *nc = pcf_negcache_new(16, 1000);

	pcf_negcache_add(nc, "public", "t.csv", 0);
	pcf_negcache_add(nc, "public", "u.csv", 0);
	pcf_negcache_drop(nc, "public", "t.csv");
	pcf_negcache_drop(nc, "public", "never.csv");
	assert_int_equal(pcf_negcache_age(nc, "public", "t.csv", 1), -1);
	assert_int_equal(pcf_negcache_age(nc, "public", "u.csv", 1), 1);
	assert_int_equal(pcf_negcache_count(nc), 1);
	pcf_negcache_free(nc);
}

static void test_a_full_cache_keeps_no_more_and_reuses_expired(void **state)
{
	(void)state;
	struct pcf_negcache *nc = pcf_negcache_new(100, 1000);
	char name[32];

	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "t%d.csv", i);
		pcf_negcache_add(nc, "public", name, i < 50 ? 0 : 600);
	}
	assert_int_equal(pcf_negcache_count(nc), 100);
	assert_int_equal(pcf_negcache_age(nc, "public", "t149.csv", 700), -1);
	assert_int_equal(pcf_negcache_age(nc, "public", "t99.csv", 700), 100);
	/* at 1200 the first 50 have expired: a new answer takes their room */
	pcf_negcache_add(nc, "public", "late.csv", 1200);
	assert_int_equal(pcf_negcache_count(nc), 51);
	assert_int_equal(pcf_negcache_age(nc, "public", "late.csv", 1200), 0);
	assert_int_equal(pcf_negcache_age(nc, "public", "t0.csv", 1200), -1);
	assert_int_equal(pcf_negcache_age(nc, "public", "t50.csv", 1200), 600);
	pcf_negcache_free(nc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_answer_lives_ttl_and_no_longer),
		cmocka_unit_test(test_a_new_answer_restarts_the_clock),
		cmocka_unit_test(test_names_and_directories_are_apart),
		cmocka_unit_test(test_drop_forgets_at_once),
		cmocka_unit_test(test_a_full_cache_keeps_no_more_and_reuses_expired),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
