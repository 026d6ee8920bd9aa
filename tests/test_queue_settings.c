/* test_queue_settings.c: queue settings: created or updated, defaults, masks, ranges, dead-letter rules, persistence. */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/crc32c.h"
#include "../queue/queue.h"
#include "queuetest.h"
#include "testutil.h"

TestSuite(queue_settings, .init = qt_setup_data, .fini = qt_teardown, .timeout = 30);

Test(queue_settings, put_settings_reports_created_then_updated)
{
	bool created = false;
	struct queue_settings s, got;
	queue_settings_default(&s);
	s.lease_seconds = 45;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_LEASE_SECONDS, &created), QUEUE_OK);
	cr_assert(created);
	s.lease_seconds = 46;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_LEASE_SECONDS, &created), QUEUE_OK);
	cr_assert_not(created);
	cr_assert_eq(queue_put_settings(qt_st, "q", NULL, 0, &created), QUEUE_OK);
	cr_assert_not(created);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, 46);
	/* An enqueue into a missing queue creates it, so putting settings then updates. */
	qt_enq("auto", "x");
	cr_assert_eq(queue_put_settings(qt_st, "auto", NULL, 0, &created), QUEUE_OK);
	cr_assert_not(created);
}

Test(queue_settings, new_queue_gets_documented_defaults)
{
	struct queue_settings d, got;
	queue_settings_default(&d);
	cr_assert_eq(d.max_bytes, 0);
	cr_assert_eq(d.max_message_bytes, 1048576);
	cr_assert_eq(d.lease_seconds, 30);
	cr_assert_eq(d.max_deliveries, 0);
	cr_assert_str_eq(d.dead_letter, "");
	cr_assert_eq(queue_put_settings(qt_st, "q", NULL, 0, NULL), QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_bytes, 0);
	cr_assert_eq(got.max_message_bytes, 1048576);
	cr_assert_eq(got.lease_seconds, 30);
	cr_assert_eq(got.max_deliveries, 0);
	cr_assert_str_eq(got.dead_letter, "");
	cr_assert_eq(queue_get_settings(qt_st, "missing", &got), QUEUE_NOTFOUND);
}

Test(queue_settings, mask_selects_only_the_named_fields)
{
	struct queue_settings s, got;
	memset(&s, 0, sizeof(s));
	s.max_bytes = 5000;
	s.max_message_bytes = 77;
	s.lease_seconds = 0; /* out of range, but not selected */
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_MAX_BYTES | QUEUE_SET_MAX_MESSAGE_BYTES, NULL),
		     QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_bytes, 5000);
	cr_assert_eq(got.max_message_bytes, 77);
	cr_assert_eq(got.lease_seconds, 30);
	s.lease_seconds = 9;
	s.max_bytes = 1;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_LEASE_SECONDS, NULL), QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_bytes, 5000);
	cr_assert_eq(got.max_message_bytes, 77);
	cr_assert_eq(got.lease_seconds, 9);
}

/* put_one sets one field through its mask bit on queue name and returns the result. */
static enum queue_err put_one(const char *name, unsigned mask, uint64_t value)
{
	struct queue_settings s;
	queue_settings_default(&s);
	if (mask == QUEUE_SET_MAX_BYTES)
		s.max_bytes = value;
	else if (mask == QUEUE_SET_MAX_MESSAGE_BYTES)
		s.max_message_bytes = (uint32_t)value;
	else if (mask == QUEUE_SET_LEASE_SECONDS)
		s.lease_seconds = (uint32_t)value;
	else if (mask == QUEUE_SET_MAX_DELIVERIES)
		s.max_deliveries = (uint32_t)value;
	return queue_put_settings(qt_st, name, &s, mask, NULL);
}

Test(queue_settings, lease_seconds_range_is_1_to_43200)
{
	struct queue_settings got;
	cr_assert_eq(put_one("new0", QUEUE_SET_LEASE_SECONDS, 0), QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "new0", &got), QUEUE_NOTFOUND, "a rejected create creates nothing");
	cr_assert_eq(put_one("new1", QUEUE_SET_LEASE_SECONDS, 43201), QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "new1", &got), QUEUE_NOTFOUND);
	cr_assert_eq(put_one("q", QUEUE_SET_LEASE_SECONDS, 1), QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, 1);
	cr_assert_eq(put_one("q", QUEUE_SET_LEASE_SECONDS, QUEUE_LEASE_SECONDS_MAX), QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, 43200);
	cr_assert_eq(put_one("q", QUEUE_SET_LEASE_SECONDS, 0), QUEUE_BADARG);
	cr_assert_eq(put_one("q", QUEUE_SET_LEASE_SECONDS, 43201), QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, 43200, "a rejected update changes nothing");
}

Test(queue_settings, max_message_bytes_range_is_1_to_1_gib)
{
	struct queue_settings got;
	cr_assert_eq(put_one("q", QUEUE_SET_MAX_MESSAGE_BYTES, 0), QUEUE_BADARG);
	cr_assert_eq(put_one("q", QUEUE_SET_MAX_MESSAGE_BYTES, (1u << 30) + 1u), QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_NOTFOUND);
	cr_assert_eq(put_one("q", QUEUE_SET_MAX_MESSAGE_BYTES, 1), QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_message_bytes, 1);
	cr_assert_eq(put_one("q", QUEUE_SET_MAX_MESSAGE_BYTES, 1u << 30), QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_message_bytes, 1u << 30);
}

Test(queue_settings, max_bytes_and_max_deliveries_accept_zero_as_unlimited)
{
	struct queue_settings s, got;
	cr_assert_eq(put_one("q", QUEUE_SET_MAX_BYTES, 0), QUEUE_OK);
	cr_assert_eq(put_one("q", QUEUE_SET_MAX_BYTES, UINT64_MAX), QUEUE_OK);
	cr_assert_eq(put_one("q", QUEUE_SET_MAX_DELIVERIES, 0), QUEUE_OK);
	queue_settings_default(&s);
	s.max_bytes = 123456;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_MAX_BYTES, NULL), QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_bytes, 123456);
	cr_assert_eq(got.max_deliveries, 0);
}

Test(queue_settings, max_deliveries_needs_a_dead_letter_queue)
{
	struct queue_settings s, got;
	queue_settings_default(&s);
	s.max_deliveries = 3;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_MAX_DELIVERIES, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_NOTFOUND);
	strcpy(s.dead_letter, "q-dlq");
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_MAX_DELIVERIES | QUEUE_SET_DEAD_LETTER, NULL),
		     QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_deliveries, 3);
	cr_assert_str_eq(got.dead_letter, "q-dlq");
	/* Taking the dead-letter queue away while max_deliveries stays > 0 is refused. */
	s.dead_letter[0] = '\0';
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_DEAD_LETTER, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_str_eq(got.dead_letter, "q-dlq");
	/* Both at once is fine. */
	s.max_deliveries = 0;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_MAX_DELIVERIES | QUEUE_SET_DEAD_LETTER, NULL),
		     QUEUE_OK);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_deliveries, 0);
	cr_assert_str_eq(got.dead_letter, "");
}

Test(queue_settings, dead_letter_naming_itself_or_a_bad_name_is_badarg)
{
	struct queue_settings s, got;
	queue_settings_default(&s);
	strcpy(s.dead_letter, "q");
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_DEAD_LETTER, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_NOTFOUND);
	cr_assert_eq(queue_put_settings(qt_st, "q", NULL, 0, NULL), QUEUE_OK);
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_DEAD_LETTER, NULL), QUEUE_BADARG);
	strcpy(s.dead_letter, "bad/name");
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_DEAD_LETTER, NULL), QUEUE_BADARG);
	strcpy(s.dead_letter, "..");
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_DEAD_LETTER, NULL), QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_str_eq(got.dead_letter, "");
}

Test(queue_settings, settings_survive_close_and_reopen)
{
	struct queue_settings s, got;
	memset(&s, 0, sizeof(s));
	s.max_bytes = 999999;
	s.max_message_bytes = 4321;
	s.lease_seconds = 43200;
	s.max_deliveries = 7;
	strcpy(s.dead_letter, "graveyard");
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, 0x1fu, NULL), QUEUE_OK);
	cr_assert_eq(queue_put_settings(qt_st, "other", NULL, 0, NULL), QUEUE_OK);
	qt_reopen();
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.max_bytes, 999999);
	cr_assert_eq(got.max_message_bytes, 4321);
	cr_assert_eq(got.lease_seconds, 43200);
	cr_assert_eq(got.max_deliveries, 7);
	cr_assert_str_eq(got.dead_letter, "graveyard");
	cr_assert_eq(queue_get_settings(qt_st, "other", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, 30);
	/* An update after reopening survives the next reopen too. */
	s.lease_seconds = 5;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_LEASE_SECONDS, NULL), QUEUE_OK);
	qt_reopen();
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, 5);
	cr_assert_eq(got.max_message_bytes, 4321);
}

Test(queue_settings, delay_receive_wait_and_times_are_kept_and_checked)
{
	struct queue_settings s, got;

	memset(&s, 0, sizeof(s));
	s.delay_seconds = 900;
	s.receive_wait_seconds = 20;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s,
					QUEUE_SET_DELAY_SECONDS | QUEUE_SET_RECEIVE_WAIT_SECONDS, NULL),
		     QUEUE_OK);
	s.delay_seconds = 901;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_DELAY_SECONDS, NULL), QUEUE_BADARG);
	s.receive_wait_seconds = 21;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_RECEIVE_WAIT_SECONDS, NULL),
		     QUEUE_BADARG);
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.delay_seconds, 900);
	cr_assert_eq(got.receive_wait_seconds, 20);
	cr_assert_eq(got.created_ms, QT_T0);
	cr_assert_eq(got.modified_ms, QT_T0);
	/* A change moves the modification time only; the caller's times are ignored. */
	qt_set_now(QT_T0 + 5000);
	s.receive_wait_seconds = 3;
	s.created_ms = s.modified_ms = 42;
	cr_assert_eq(queue_put_settings(qt_st, "q", &s, QUEUE_SET_RECEIVE_WAIT_SECONDS, NULL), QUEUE_OK);
	/* A queue made by an enqueue is stamped too. */
	cr_assert_eq(queue_enqueue(qt_st, "auto", &(struct queue_payload){ "1", 1 }, 1, 0, NULL, NULL),
		     QUEUE_OK);
	qt_reopen();
	cr_assert_eq(queue_get_settings(qt_st, "q", &got), QUEUE_OK);
	cr_assert_eq(got.delay_seconds, 900);
	cr_assert_eq(got.receive_wait_seconds, 3);
	cr_assert_eq(got.created_ms, QT_T0);
	cr_assert_eq(got.modified_ms, QT_T0 + 5000);
	cr_assert_eq(queue_get_settings(qt_st, "auto", &got), QUEUE_OK);
	cr_assert_eq(got.created_ms, QT_T0 + 5000);
}

/* make_v1_meta rewrites both slots of queue q's meta file as the version 1 layout wrote them. */
static void make_v1_meta(const char *q)
{
	char path[512];
	uint8_t slot[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/queues/%s/queue.meta", qt_dir, q);
	f = fopen(path, "r+b");
	cr_assert_not_null(f, "%s", path);
	for (int i = 0; i < 2; i++) {
		uint32_t crc;
		cr_assert_eq(fseek(f, i * 4096L, SEEK_SET), 0);
		cr_assert_eq(fread(slot, 1, sizeof(slot), f), sizeof(slot));
		/* Version 1: the version field says 1, and nothing past the totals. */
		slot[4] = 1;
		slot[5] = slot[6] = slot[7] = 0;
		memset(slot + 216, 0, 4092 - 216);
		crc = crc32c(0, slot, 4092);
		for (int b = 0; b < 4; b++)
			slot[4092 + b] = (uint8_t)(crc >> (8 * b));
		cr_assert_eq(fseek(f, i * 4096L, SEEK_SET), 0);
		cr_assert_eq(fwrite(slot, 1, sizeof(slot), f), sizeof(slot));
	}
	cr_assert_eq(fclose(f), 0);
}

Test(queue_settings, version_1_meta_is_still_read_and_rewritten_as_version_2)
{
	struct queue_settings s, got;

	memset(&s, 0, sizeof(s));
	s.lease_seconds = 7;
	s.delay_seconds = 5;
	cr_assert_eq(queue_put_settings(qt_st, "old", &s, QUEUE_SET_LEASE_SECONDS | QUEUE_SET_DELAY_SECONDS,
					NULL),
		     QUEUE_OK);
	cr_assert_eq(queue_enqueue(qt_st, "old", &(struct queue_payload){ "1", 1 }, 1, 0, NULL, NULL),
		     QUEUE_OK);
	qt_close_store();
	make_v1_meta("old");
	qt_reopen();
	cr_assert_eq(queue_get_settings(qt_st, "old", &got), QUEUE_OK);
	cr_assert_eq(got.lease_seconds, 7);
	cr_assert_eq(got.delay_seconds, 0);
	cr_assert_eq(got.created_ms, 0);
	struct queue_stats st;
	cr_assert_eq(queue_stats(qt_st, "old", &st), QUEUE_OK);
	cr_assert_eq(st.depth, 1);
	s.receive_wait_seconds = 9;
	cr_assert_eq(queue_put_settings(qt_st, "old", &s, QUEUE_SET_RECEIVE_WAIT_SECONDS, NULL), QUEUE_OK);
	qt_reopen();
	cr_assert_eq(queue_get_settings(qt_st, "old", &got), QUEUE_OK);
	cr_assert_eq(got.receive_wait_seconds, 9);
	cr_assert_eq(got.lease_seconds, 7);
}
