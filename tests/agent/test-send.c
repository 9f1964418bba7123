/* test-send.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The send path through the real agent with the file transport: every
 * gate on the sample clinic's patients, checked against an expectation
 * this test computes itself from the fake's records; the messages read
 * back by an independent parser (Python's email package); the write-back
 * memo and the "already recorded" skip; a Cliniko outage; and seeded
 * patient data absent from the database, the logs, the D-Bus replies and
 * the CSV export.
 */

#include "config.h"

#include <sodium.h>
#include <string.h>

#include "clinic-fixture.h"
#include "mhf-test-licence.h"

#define FROM_NAME    "Harbourside Reception — Zoë’s team"
#define FROM_ADDRESS "reception@harbourside.example.com"

static const char * const agent_env[] = {
  "G_MESSAGES_DEBUG=all",
  "MHF_AGENT_CLINIKO_FAST_RETRY=1",
  NULL
};

static const char * const fast_env[] = {
  "G_MESSAGES_DEBUG=all",
  "MHF_AGENT_CLINIKO_FAST_RETRY=1",
  /* Back-off in seconds rather than minutes. */
  "MHF_AGENT_MINUTE_SECONDS=1",
  NULL
};

static char *
out_folder (Fixture *f)
{
  return g_build_filename (mhf_test_bus_get_data_dir (f->bus), "..", "sent-mail", NULL);
}

static void
set_file_transport (Fixture  *f,
                    gboolean  write_back)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *folder = out_folder (f);

  g_variant_dict_insert (&dict, "transport", "s", "file");
  g_variant_dict_insert (&dict, "folder", "s", folder);
  g_variant_dict_insert (&dict, "from-name", "s", FROM_NAME);
  g_variant_dict_insert (&dict, "from-address", "s", FROM_ADDRESS);
  g_variant_dict_insert (&dict, "write-back", "b", write_back);
  call_ok (mhf_ipc_agent1_call_set_email_settings_sync (f->proxy, f->clinic,
                                                        g_variant_dict_end (&dict), NULL, &error),
           error);
}

/* A reminder for every appointment in the next three days, due at once
 * (last-minute): the whole batch goes now, whatever the time of day. */
static gint64
enable_due_reminders (Fixture *f)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  g_autoptr(GError) error = NULL;
  gint64 template_id = 0;

  call_ok (mhf_ipc_agent1_call_add_template_sync (f->proxy, f->clinic, "Rappel",
                                                  "Rappel : {{ appointment.date }} — "
                                                  "{{ business.name }}",
                                                  "Bonjour {{ patient.first_name }},\n"
                                                  "à bientôt chez {{ business.name }} "
                                                  "({{ practitioner.name }}).",
                                                  "<p>Bonjour {{ patient.first_name }} ✓</p>",
                                                  &template_id, NULL, &error), error);
  g_variant_dict_insert (&dict, "name", "s", "Reminder");
  g_variant_dict_insert (&dict, "kind", "s", "reminder");
  g_variant_dict_insert (&dict, "template", "x", template_id);
  g_variant_dict_insert (&dict, "timing", "s", "72h before");
  g_variant_dict_insert (&dict, "last-minute", "b", TRUE);
  g_variant_dict_insert (&dict, "latest-useful-minutes", "x", (gint64) 30);
  return enable_rule (f, g_variant_dict_end (&dict));
}

/* Waits until nothing is planned for now or being sent. */
static GVariant *
wait_until_sent (Fixture *f)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr(GVariant) all = outbox (f, NULL);
      gint64 now = g_get_real_time ();
      gboolean busy = FALSE;

      for (gsize i = 0; i < g_variant_n_children (all) && !busy; i++)
        {
          g_autoptr(GVariant) row = g_variant_get_child_value (all, i);
          const char *state = row_s (row, "state");
          const char *write_back = row_s (row, "write-back");

          busy = g_str_equal (state, "sending") || g_str_equal (write_back, "pending") ||
                 (g_str_equal (state, "planned") && row_x (row, "planned-at") <= now);
        }
      if (!busy)
        return g_steal_pointer (&all);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100 * 1000);
    }
}

static gboolean
empty_or_null (JsonObject *object,
               const char *member)
{
  return !json_object_has_member (object, member) ||
         json_object_get_null_member (object, member) ||
         g_str_equal (json_object_get_string_member (object, member), "");
}

static char *
linked (JsonObject *object,
        const char *member)
{
  const char *self;

  if (!json_object_has_member (object, member) || json_object_get_null_member (object, member))
    return NULL;
  self = json_object_get_string_member (json_object_get_object_member (
    json_object_get_object_member (object, member), "links"), "self");
  return g_path_get_basename (self);
}

/* What a reminder should do for this row, worked out here from the fake's
 * records, independently of the agent's code. */
static const char *
expected_reason (Fixture   *f,
                 GVariant  *row,
                 char     **patient_id)
{
  g_autoptr(JsonObject) appointment = NULL;
  g_autoptr(JsonObject) attendee = NULL;
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(GRegex) valid = g_regex_new ("^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$", 0, 0, NULL);
  const char *attendee_id = row_s (row, "attendee");
  const char *email;
  gboolean individual = *attendee_id == '\0';

  appointment = fake_record (f, individual ? "individual_appointments" : "group_appointments",
                             row_s (row, "appointment"));
  g_assert_nonnull (appointment);
  if (!empty_or_null (appointment, "deleted_at"))
    return "appointment-deleted";
  if (!empty_or_null (appointment, "cancelled_at"))
    return "appointment-cancelled";
  if (!individual)
    {
      attendee = fake_record (f, "attendees", attendee_id);
      if (!empty_or_null (attendee, "deleted_at"))
        return "appointment-deleted";
      if (!empty_or_null (attendee, "cancelled_at"))
        return "appointment-cancelled";
    }

  *patient_id = linked (individual ? appointment : attendee, "patient");
  patient = fake_record (f, "patients", *patient_id);
  if (!empty_or_null (patient, "deleted_at"))
    return "patient-deleted";
  if (!empty_or_null (patient, "archived_at"))
    return "patient-archived";
  if (empty_or_null (patient, "email"))
    return "no-email";
  email = json_object_get_string_member (patient, "email");
  if (!g_regex_match (valid, email, 0, NULL))
    return "invalid-email";
  if (json_object_has_member (patient, "accepted_privacy_policy") &&
      !json_object_get_null_member (patient, "accepted_privacy_policy") &&
      !json_object_get_boolean_member (patient, "accepted_privacy_policy"))
    return "privacy-declined";
  if (strstr (json_object_get_string_member (patient, "reminder_type"), "Email") == NULL)
    return "reminders-off";
  return NULL;
}

static JsonArray *
parse_folder (Fixture *f)
{
  g_autofree char *folder = out_folder (f);
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "mail", "parse-mail.py", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonNode) node = NULL;

  g_assert_cmpint (mhf_test_run (NULL, &out, &err, "/usr/bin/python3", script, folder, NULL), ==,
                   0);
  node = json_from_string (out, NULL);
  g_assert_nonnull (node);
  return json_array_ref (json_node_get_array (node));
}

static void
test_gates_and_messages (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(JsonArray) messages = NULL;
  g_autoptr(GHashTable) by_id = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                       (GDestroyNotify) json_object_unref);
  g_autoptr(GHashTable) reasons = g_hash_table_new (g_str_hash, g_str_equal);
  guint sent = 0, skipped = 0;

  set_file_transport (f, TRUE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));
  rows = wait_until_sent (f);
  messages = parse_folder (f);

  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonObject *message = json_array_get_object_element (messages, i);
      g_autofree char *id = g_strdup (json_object_get_string_member (message, "message_id"));

      g_strdelimit (id, "<>", ' ');
      g_hash_table_insert (by_id, (gpointer) json_object_get_string_member (message,
                                                                            "message_id"),
                           json_object_ref (message));
    }

  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);
      g_autofree char *patient_id = NULL;
      g_autofree char *bracketed = NULL;
      const char *expected = expected_reason (f, row, &patient_id);
      const char *state = row_s (row, "state");
      JsonObject *message;

      if (g_str_equal (state, "planned"))
        continue;   /* not yet due */

      if (expected != NULL)
        {
          g_assert_cmpstr (state, ==, "skipped");
          g_assert_cmpstr (row_s (row, "reason"), ==, expected);
          g_hash_table_add (reasons, (gpointer) g_intern_string (expected));
          skipped++;
          continue;
        }

      /* Sent: one message, to the patient's address, read back by Python. */
      g_assert_cmpstr (state, ==, "sent");
      g_assert_cmpstr (row_s (row, "write-back"), ==, "done");
      bracketed = g_strdup_printf ("<%s>", row_s (row, "message-id"));
      message = g_hash_table_lookup (by_id, bracketed);
      g_assert_nonnull (message);
      {
        g_autoptr(JsonObject) patient = fake_record (f, "patients", patient_id);
        JsonArray *parts = json_object_get_array_member (message, "parts");

        g_assert_cmpstr (json_object_get_string_member (message, "to"), ==,
                         json_object_get_string_member (patient, "email"));
        g_assert_nonnull (strstr (json_object_get_string_member (message, "from"),
                                  "Zoë’s team"));
        g_assert_nonnull (strstr (json_object_get_string_member (message, "subject"),
                                  "Rappel : "));
        g_assert_nonnull (strstr (json_object_get_string_member (message, "subject"), " — "));
        g_assert_cmpstr (json_object_get_string_member (message, "auto_submitted"), ==,
                         "auto-generated");
        g_assert_cmpstr (json_object_get_string_member (message, "list_unsubscribe"), ==, "");
        g_assert_cmpstr (json_object_get_string_member (message, "content_type"), ==,
                         "multipart/alternative");
        g_assert_true (json_object_get_boolean_member (message, "crlf"));
        g_assert_true (json_object_get_boolean_member (message, "ascii_headers"));
        g_assert_cmpuint (json_array_get_length (parts), ==, 2);
        for (guint p = 0; p < 2; p++)
          {
            JsonObject *part = json_array_get_object_element (parts, p);

            g_assert_cmpstr (json_object_get_string_member (part, "charset"), ==, "utf-8");
            g_assert_nonnull (strstr (json_object_get_string_member (part, "text"), "Bonjour"));
          }
        g_assert_nonnull (strstr (json_object_get_string_member (
          json_array_get_object_element (parts, 0), "text"), "à bientôt"));
      }
      sent++;
    }

  /* Every message written belongs to a sent row, once. */
  g_assert_cmpuint (sent, >, 0);
  g_assert_cmpuint (json_array_get_length (messages), ==, sent);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "POST", "/v1/communications"), ==,
                    sent);
  g_test_message ("%u sent, %u skipped over %u reasons", sent, skipped,
                  g_hash_table_size (reasons));
  g_assert_cmpuint (skipped, >, 0);
}

static void
test_already_recorded (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GVariant) again = NULL;
  g_autoptr(JsonArray) before = NULL;
  g_autoptr(JsonArray) after = NULL;
  gint64 id = 0;

  set_file_transport (f, TRUE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));
  rows = wait_until_sent (f);
  before = parse_folder (f);

  for (gsize i = 0; i < g_variant_n_children (rows) && id == 0; i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);

      if (g_str_equal (row_s (row, "state"), "sent"))
        id = row_x (row, "id");
    }
  g_assert_cmpint (id, >, 0);

  /* This PC loses track of it (a restored backup, or another PC with the
   * same rules): the memo in Cliniko stops a second send. */
  mhf_test_bus_stop_agent (f->bus);
  {
    g_autofree char *sql = g_strdup_printf ("UPDATE outbox SET state = 'planned' WHERE id = %"
                                            G_GINT64_FORMAT, id);
    sqlite3 *db = open_database (f);

    g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close (db);
  }
  g_clear_object (&f->proxy);
  g_assert_nonnull (mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS));
  f->proxy = new_proxy (f);
  sign_in (f);
  again = wait_until_sent (f);
  for (gsize i = 0; i < g_variant_n_children (again); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (again, i);

      if (row_x (row, "id") == id)
        {
          g_assert_cmpstr (row_s (row, "state"), ==, "skipped");
          g_assert_cmpstr (row_s (row, "reason"), ==, "already-recorded");
        }
    }
  after = parse_folder (f);
  g_assert_cmpuint (json_array_get_length (after), ==, json_array_get_length (before));
}

static void
test_write_back_retried (Fixture       *f,
                         gconstpointer  data)
{
  /* The first two memos get a server error; the emails are not sent
   * again, the memos are seen to on their own, a "minute" later. */
  MhfFakeFault fault = { .status = 500, .count = 2, .method = "POST" };
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(JsonArray) messages = NULL;
  guint sent = 0;

  set_file_transport (f, TRUE);
  mhf_fake_cliniko_add_fault (f->fake, "/communications", &fault);
  enable_due_reminders (f);
  g_variant_unref (scan (f));
  rows = wait_until_sent (f);
  messages = parse_folder (f);

  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);

      if (!g_str_equal (row_s (row, "state"), "sent"))
        continue;
      g_assert_cmpstr (row_s (row, "write-back"), ==, "done");
      sent++;
    }
  g_assert_cmpuint (sent, >, 0);
  g_assert_cmpuint (json_array_get_length (messages), ==, sent);
  /* The fake stores a memo before the injected 500 replaces its answer:
   * the retry finds the two "failed" memos in Cliniko by their marker and
   * posts nothing twice. One POST per sent message, and a second look at
   * the communications for the retry. */
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "POST", "/v1/communications"), ==,
                    sent);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/communications"), >=,
                    2);
}


static int
json_flag (JsonObject *object,
           const char *member)
{
  if (object == NULL || !json_object_has_member (object, member) ||
      json_object_get_null_member (object, member))
    return -1;
  return json_object_get_boolean_member (object, member) ? 1 : 0;
}

/* Whether the patient has a booking ahead that still stands, as the fake
 * serves it now; with @cancel, cancels those bookings instead. */
static gboolean
has_future_booking (Fixture    *f,
                    JsonArray  *appointments,
                    const char *patient_id,
                    gboolean    cancel)
{
  gboolean found = FALSE;

  for (guint i = 0; i < json_array_get_length (appointments); i++)
    {
      JsonObject *a = json_array_get_object_element (appointments, i);
      const char *id = json_object_get_string_member (a, "id");
      g_autoptr(JsonObject) live = NULL;

      if (g_strcmp0 (json_object_get_string_member_with_default (a, "patient_id", ""),
                     patient_id) != 0 ||
          !g_str_has_prefix (json_object_get_string_member (a, "starts_at"), "@+"))
        continue;
      live = fake_record (f, "individual_appointments", id);
      if (!empty_or_null (live, "cancelled_at") || !empty_or_null (live, "deleted_at") ||
          !empty_or_null (live, "archived_at"))
        continue;
      if (cancel)
        g_assert_true (mhf_fake_cliniko_cancel_appointment (f->fake, id, 40, NULL));
      found = TRUE;
    }
  return found;
}

/* What a follow-up, did-not-arrive note or recall should do, from the
 * fake's records, in the order of design §6. */
static const char *
expected_for_kind (Fixture    *f,
                   JsonArray  *fixture_appointments,
                   const char *kind,
                   const char *appointment_id)
{
  g_autoptr(JsonObject) appointment = fake_record (f, "individual_appointments", appointment_id);
  g_autoptr(JsonObject) patient = NULL;
  g_autoptr(GRegex) valid = g_regex_new ("^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$", 0, 0, NULL);
  g_autofree char *patient_id = NULL;
  int dna, arrived;

  if (!empty_or_null (appointment, "deleted_at"))
    return "appointment-deleted";
  if (!empty_or_null (appointment, "cancelled_at"))
    return "appointment-cancelled";
  if (!empty_or_null (appointment, "archived_at"))
    return "appointment-archived";

  dna = json_flag (appointment, "did_not_arrive");
  arrived = json_flag (appointment, "patient_arrived");
  if (g_str_equal (kind, "follow-up") && dna == 1)
    return "did-not-arrive";
  if (g_str_equal (kind, "did-not-arrive") && dna != 1)
    return arrived == 1 || dna == 0 ? "patient-attended" : "arrival-unknown";

  patient_id = linked (appointment, "patient");
  patient = fake_record (f, "patients", patient_id);
  if (!empty_or_null (patient, "deleted_at"))
    return "patient-deleted";
  if (!empty_or_null (patient, "archived_at"))
    return "patient-archived";
  if (empty_or_null (patient, "email"))
    return "no-email";
  if (!g_regex_match (valid, json_object_get_string_member (patient, "email"), 0, NULL))
    return "invalid-email";
  if (json_flag (patient, "accepted_privacy_policy") == 0)
    return "privacy-declined";
  if (g_str_equal (kind, "recall"))
    {
      if (json_flag (patient, "accepted_email_marketing") != 1)
        return "marketing-not-accepted";
      if (has_future_booking (f, fixture_appointments, patient_id, FALSE))
        return "future-booking";
      return NULL;
    }
  if (strstr (json_object_get_string_member (patient, "reminder_type"), "Email") == NULL)
    return "reminders-off";
  return NULL;
}

static void
test_other_kinds (Fixture       *f,
                  gconstpointer  data)
{
  static const char * const kinds[] = { "follow-up", "did-not-arrive", "recall" };
  g_autofree char *fixture_path = g_test_build_filename (G_TEST_DIST, "fake-cliniko",
                                                         "sample-clinic.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) chosen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(JsonArray) messages = NULL;
  g_autoptr(GString) sql = g_string_new ("BEGIN;");
  g_autoptr(GError) error = NULL;
  JsonArray *appointments;
  gint64 rule_ids[G_N_ELEMENTS (kinds)];
  gint64 now = g_get_real_time ();
  guint n = 0, sent = 0, recalls_sent = 0;
  sqlite3 *db;

  set_file_transport (f, FALSE);
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

      g_variant_dict_insert (&dict, "name", "s", kinds[k]);
      g_variant_dict_insert (&dict, "kind", "s", kinds[k]);
      g_variant_dict_insert (&dict, "template", "x", f->template_id);
      g_variant_dict_insert (&dict, "timing", "s", g_str_equal (kinds[k], "recall") ? "30d after"
                                                                                     : "1h after");
      rule_ids[k] = enable_rule (f, g_variant_dict_end (&dict));
    }

  /* Rows the planner would have made days ago for recent appointments,
   * due now: written as IT support could, with the agent stopped. */
  g_assert_true (json_parser_load_from_file (parser, fixture_path, &error));
  appointments = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                               "individual_appointments");
  /* Recent appointments: first a few whose patient could get a recall
   * (marketing accepted, a usable address; their bookings ahead are
   * cancelled here, as if they had phoned), then any, 33 in all. */
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < json_array_get_length (appointments) && n < (pass == 0 ? 5 : 33); i++)
      {
        JsonObject *a = json_array_get_object_element (appointments, i);
        const char *start = json_object_get_string_member (a, "starts_at");
        const char *id = json_object_get_string_member (a, "id");
        gint64 offset = g_ascii_strtoll (start + 1, NULL, 10);

        if (offset > -86400 || offset < -8 * 86400 || g_hash_table_contains (chosen, id))
          continue;
        if (pass == 0)
          {
            g_autoptr(JsonObject) patient = fake_record (f, "patients",
                                                         json_object_get_string_member (a,
                                                                                        "patient_id"));

            if (json_flag (patient, "accepted_email_marketing") != 1 ||
                json_flag (patient, "accepted_privacy_policy") == 0 ||
                !empty_or_null (patient, "archived_at") || !empty_or_null (patient, "deleted_at") ||
                empty_or_null (patient, "email") ||
                !g_regex_match_simple ("^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$",
                                       json_object_get_string_member (patient, "email"), 0, 0))
              continue;
            has_future_booking (f, appointments, json_object_get_string_member (a, "patient_id"),
                                TRUE);
          }
        g_hash_table_add (chosen, (gpointer) id);
        for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
          g_string_append_printf (sql,
                                  /* A scan may have planned a recall 30 days on
                                   * for the same appointment: this row takes its place. */
                                  "INSERT OR REPLACE INTO outbox (clinic_id, rule_id, appointment_id,"
                                  " patient_id, business_id, planned_at, state, created_at,"
                                  " updated_at) VALUES (%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                                  ", '%s', '%s', '%s', %" G_GINT64_FORMAT ", 'planned', %"
                                  G_GINT64_FORMAT ", %" G_GINT64_FORMAT ");",
                                  f->clinic, rule_ids[k], id,
                                  json_object_get_string_member (a, "patient_id"),
                                  json_object_get_string_member (a, "business_id"),
                                  now - 60 * G_USEC_PER_SEC, now, now);
        n++;
      }
  g_string_append (sql, "COMMIT;");
  g_assert_cmpuint (n, >, 10);

  mhf_test_bus_stop_agent (f->bus);
  db = open_database (f);
  g_assert_cmpint (sqlite3_exec (db, sql->str, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  g_clear_object (&f->proxy);
  g_assert_nonnull (mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS));
  f->proxy = new_proxy (f);
  sign_in (f);
  rows = wait_until_sent (f);
  messages = parse_folder (f);

  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);
      const char *kind = row_s (row, "kind");
      const char *expected;

      if (g_str_equal (kind, "reminder") || row_x (row, "planned-at") > now)
        continue;   /* planned by the scan for future appointments */

      expected = expected_for_kind (f, appointments, kind, row_s (row, "appointment"));
      g_hash_table_add (seen, (gpointer) (expected != NULL ? expected : "sent"));
      if (expected == NULL)
        {
          g_assert_cmpstr (row_s (row, "state"), ==, "sent");
          sent++;
          recalls_sent += g_str_equal (kind, "recall");
        }
      else
        {
          g_assert_cmpstr (row_s (row, "state"), ==, "skipped");
          g_assert_cmpstr (row_s (row, "reason"), ==, expected);
        }
    }
  g_assert_cmpuint (json_array_get_length (messages), ==, sent);
  g_test_message ("%u outcomes seen over the three kinds", g_hash_table_size (seen));
  g_assert_true (g_hash_table_contains (seen, "arrival-unknown") ||
                 g_hash_table_contains (seen, "patient-attended"));
  g_assert_true (g_hash_table_contains (seen, "marketing-not-accepted"));

  /* A recall is marketing: a footer and List-Unsubscribe to the clinic. */
  g_assert_cmpuint (recalls_sent, >, 0);
  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonObject *message = json_array_get_object_element (messages, i);
      const char *unsubscribe = json_object_get_string_member (message, "list_unsubscribe");

      if (*unsubscribe == '\0')
        continue;
      recalls_sent--;
      g_assert_nonnull (strstr (unsubscribe, "mailto:"));
      g_assert_nonnull (strstr (json_object_get_string_member (
        json_array_get_object_element (json_object_get_array_member (message, "parts"), 0),
        "text"), "unsubscribe"));
    }
  g_assert_cmpuint (recalls_sent, ==, 0);
}

static void
test_cliniko_outage (Fixture       *f,
                     gconstpointer  data)
{
  MhfFakeFault fault = { .status = 503, .count = -1 };
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(JsonArray) messages = NULL;
  guint waiting = 0;

  set_file_transport (f, TRUE);
  mhf_fake_cliniko_add_fault (f->fake, "/patients", &fault);
  enable_due_reminders (f);
  g_variant_unref (scan (f));

  /* Nothing goes without fresh preferences: every due row waits to be
   * tried again, with the reason. */
  for (gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC; waiting == 0; )
    {
      g_clear_pointer (&rows, g_variant_unref);
      rows = outbox (f, "retry_wait");
      waiting = g_variant_n_children (rows);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100 * 1000);
    }
  for (gsize i = 0; i < waiting; i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);

      g_assert_cmpstr (row_s (row, "reason"), ==, "cliniko-unavailable");
      g_assert_cmpint (row_x (row, "next-attempt-at"), >, g_get_real_time ());
    }
  messages = parse_folder (f);
  g_assert_cmpuint (json_array_get_length (messages), ==, 0);
}

/* Seeded patient data must not reach the database, the logs, replies or
 * the export. */
static void
assert_absent (const char *haystack,
               GPtrArray  *needles,
               const char *where)
{
  for (guint i = 0; i < needles->len; i++)
    {
      const char *needle = g_ptr_array_index (needles, i);

      if (haystack != NULL && strstr (haystack, needle) != NULL)
        g_error ("“%s” found in %s", needle, where);
    }
}

static void
test_no_patient_data_kept (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GVariant) history = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GPtrArray) needles = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) database = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *rows_text = NULL;
  g_autofree char *history_text = NULL;
  g_autofree char *csv = NULL;
  g_autofree char *log = NULL;
  g_autofree char *db_path = NULL;
  g_autofree char *raw = NULL;
  gsize raw_len = 0;
  gint64 next = 0;
  sqlite3_stmt *stmt = NULL;
  sqlite3 *db;

  set_file_transport (f, TRUE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));
  rows = wait_until_sent (f);

  /* The names and addresses of every patient the batch looked at. */
  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);
      g_autofree char *patient_id = NULL;
      g_autoptr(JsonObject) patient = NULL;

      expected_reason (f, row, &patient_id);
      if (patient_id == NULL || (patient = fake_record (f, "patients", patient_id)) == NULL)
        continue;
      g_ptr_array_add (needles, g_strdup_printf ("%s %s",
                                                 json_object_get_string_member (patient,
                                                                                "first_name"),
                                                 json_object_get_string_member (patient,
                                                                                "last_name")));
      if (!empty_or_null (patient, "email"))
        g_ptr_array_add (needles, g_strdup (json_object_get_string_member (patient, "email")));
    }
  g_assert_cmpuint (needles->len, >, 5);

  call_ok (mhf_ipc_agent1_call_list_history_sync (f->proxy, f->clinic,
                                                  g_variant_new_parsed ("@a{sv} {}"), &history,
                                                  &next, NULL, &error), error);
  g_assert_cmpuint (g_variant_n_children (history), >, 0);
  call_ok (mhf_ipc_agent1_call_export_history_sync (f->proxy, f->clinic,
                                                    g_variant_new_parsed ("@a{sv} {}"), &csv,
                                                    NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_get_status_sync (f->proxy, &status, NULL, &error), error);
  rows_text = g_variant_print (rows, FALSE);
  history_text = g_variant_print (history, FALSE);

  /* The CLI's faces of the same: history as JSON, the CSV export. */
  {
    g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
    g_autofree char *csv_path = g_build_filename (mhf_test_bus_get_data_dir (f->bus), "..",
                                                  "history.csv", NULL);
    g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL, *csv_file = NULL;
    g_autoptr(JsonNode) json = NULL;

    g_assert_cmpint (run_ctl (&out, &err, "history", clinic, "--json", NULL), ==, 0);
    json = json_from_string (out, NULL);
    g_assert_nonnull (json);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (
      json_node_get_object (json), "events")), >, 0);
    assert_absent (out, needles, "history --json");
    g_assert_cmpint (run_ctl (&out2, &err2, "export", clinic, "--csv", csv_path, NULL), ==, 0);
    g_assert_true (g_file_get_contents (csv_path, &csv_file, NULL, NULL));
    g_assert_true (g_str_has_prefix (csv_file, "time,message,rule,template,state,reason,"));
    assert_absent (csv_file, needles, "export --csv");
  }
  assert_absent (rows_text, needles, "ListOutbox");
  assert_absent (history_text, needles, "ListHistory");
  assert_absent (csv, needles, "the CSV export");
  g_assert_nonnull (strstr (csv, "***@"));
  g_assert_nonnull (strstr (history_text, "***@"));
  /* Sent messages carry their masked recipient in the outbox too; the
   * ones not tried yet carry none. */
  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);
      const char *state = NULL, *recipient = NULL;

      g_assert_true (g_variant_lookup (row, "state", "&s", &state));
      g_assert_true (g_variant_lookup (row, "recipient", "&s", &recipient));
      if (g_str_equal (state, "sent"))
        g_assert_nonnull (strstr (recipient, "***@"));
      else if (g_str_equal (state, "planned"))
        g_assert_cmpstr (recipient, ==, "");
    }

  /* Every text value in every table, read with the database key. */
  mhf_test_bus_stop_agent (f->bus);
  db = open_database (f);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT name FROM sqlite_master WHERE type = 'table'",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_autofree char *sql = g_strdup_printf ("SELECT * FROM \"%s\"",
                                              sqlite3_column_text (stmt, 0));
      sqlite3_stmt *rows_stmt = NULL;

      g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &rows_stmt, NULL), ==, SQLITE_OK);
      while (sqlite3_step (rows_stmt) == SQLITE_ROW)
        for (int c = 0; c < sqlite3_column_count (rows_stmt); c++)
          if (sqlite3_column_text (rows_stmt, c) != NULL)
            g_string_append_printf (database, "%s\n", sqlite3_column_text (rows_stmt, c));
      sqlite3_finalize (rows_stmt);
    }
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  g_assert_nonnull (strstr (database->str, "***@"));
  assert_absent (database->str, needles, "the database");

  /* And the file itself, as bytes. */
  db_path = g_build_filename (mhf_test_bus_get_data_dir (f->bus), "agent.db", NULL);
  g_assert_true (g_file_get_contents (db_path, &raw, &raw_len, NULL));
  for (guint i = 0; i < needles->len; i++)
    g_assert_null (memmem (raw, raw_len, g_ptr_array_index (needles, i),
                           strlen (g_ptr_array_index (needles, i))));

  /* The agent's log at debug level. */
  log = mhf_test_bus_dup_log (f->bus);
  g_assert_nonnull (strstr (log, "sent"));
  assert_absent (log, needles, "the agent's log");
}

/* Counts a clinic's history by state, from @from on (0: all). */
static guint
history_count (Fixture    *f,
               const char *state,
               gint64      from)
{
  g_auto(GVariantDict) filter = G_VARIANT_DICT_INIT (NULL);
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  gint64 next = 0;

  g_variant_dict_insert (&filter, "state", "s", state);
  g_variant_dict_insert (&filter, "limit", "u", (guint32) 500);
  if (from != 0)
    g_variant_dict_insert (&filter, "from", "x", from);
  call_ok (mhf_ipc_agent1_call_list_history_sync (f->proxy, f->clinic,
                                                  g_variant_dict_end (&filter), &events, &next,
                                                  NULL, &error), error);
  g_assert_cmpint (next, ==, 0);
  return (guint) g_variant_n_children (events);
}

static GVariant *
daily_counts (Fixture *f,
              guint    days)
{
  g_autoptr(GError) error = NULL;
  GVariant *counts = NULL;

  call_ok (mhf_ipc_agent1_call_get_daily_counts_sync (f->proxy, f->clinic, days, &counts, NULL,
                                                      &error), error);
  g_assert_cmpuint (g_variant_n_children (counts), ==, days);
  return counts;
}

static guint
day_u (GVariant   *counts,
       gsize       i,
       const char *key)
{
  g_autoptr(GVariant) day = g_variant_get_child_value (counts, i);

  return lookup_u (day, key);
}

static const char * const counted_states[] = { "sent", "skipped", "failed", "cancelled" };

static void
test_daily_counts (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GVariant) status = cliniko_status (f);
  g_autoptr(GVariant) counts = NULL;
  g_autoptr(GTimeZone) zone = NULL;
  g_autoptr(GDateTime) now = NULL;
  g_autoptr(GDateTime) midnight = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) json = NULL;
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
  g_autofree char *sql = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  const char *zone_id = NULL;
  gint64 today_start;
  sqlite3 *db;

  g_assert_true (g_variant_lookup (status, "time-zone", "&s", &zone_id));
  g_assert_cmpstr (zone_id, ==, "Australia/Melbourne");
  zone = g_time_zone_new_identifier (zone_id);

  /* Real sends: some sent, some skipped by a gate. */
  set_file_transport (f, FALSE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));
  g_variant_unref (wait_until_sent (f));
  g_assert_cmpuint (history_count (f, "sent", 0), >, 0);
  g_assert_cmpuint (history_count (f, "skipped", 0), >, 0);

  /* Today, in the clinic's zone, matches the history from its midnight. */
  counts = daily_counts (f, 7);
  now = g_date_time_new_now (zone);
  midnight = g_date_time_new (zone, g_date_time_get_year (now), g_date_time_get_month (now),
                              g_date_time_get_day_of_month (now), 0, 0, 0);
  today_start = g_date_time_to_unix (midnight) * G_USEC_PER_SEC;
  {
    g_autoptr(GVariant) today = g_variant_get_child_value (counts, 6);
    g_autofree char *expected_day = g_date_time_format (midnight, "%Y-%m-%d");

    g_assert_cmpstr (row_s (today, "day"), ==, expected_day);
  }
  for (guint s = 0; s < G_N_ELEMENTS (counted_states); s++)
    {
      g_assert_cmpuint (day_u (counts, 6, counted_states[s]), ==,
                        history_count (f, counted_states[s], today_start));
      /* Every event is from today or (just after midnight) yesterday. */
      g_assert_cmpuint (day_u (counts, 6, counted_states[s]) + day_u (counts, 5, counted_states[s]),
                        ==, history_count (f, counted_states[s], 0));
      for (guint d = 0; d < 5; d++)
        g_assert_cmpuint (day_u (counts, d, counted_states[s]), ==, 0);
    }
  g_clear_pointer (&counts, g_variant_unref);

  /* Older events land on their day in the clinic's zone, not UTC's: just
   * after midnight in Melbourne is the day before in UTC. */
  mhf_test_bus_stop_agent (f->bus);
  {
    g_autoptr(GDateTime) four = g_date_time_add_days (midnight, -4);
    g_autoptr(GDateTime) three = g_date_time_add_days (midnight, -3);
    g_autoptr(GDateTime) two = g_date_time_add_days (midnight, -2);

    sql = g_strdup_printf ("INSERT INTO delivery_events (clinic_id, at, state) VALUES"
                           " (%1$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT ", 'sent'),"
                           " (%1$" G_GINT64_FORMAT ", %3$" G_GINT64_FORMAT ", 'failed'),"
                           " (%1$" G_GINT64_FORMAT ", %4$" G_GINT64_FORMAT ", 'cancelled'),"
                           " (%1$" G_GINT64_FORMAT ", %4$" G_GINT64_FORMAT ", 'cancelled');",
                           f->clinic,
                           (g_date_time_to_unix (three) - 30) * G_USEC_PER_SEC,
                           (g_date_time_to_unix (three) + 12 * 3600) * G_USEC_PER_SEC,
                           (g_date_time_to_unix (two) + 30) * G_USEC_PER_SEC);
  }
  db = open_database (f);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  g_clear_object (&f->proxy);
  g_assert_nonnull (mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS));
  f->proxy = new_proxy (f);
  sign_in (f);

  counts = daily_counts (f, 7);
  g_assert_cmpuint (day_u (counts, 2, "sent"), ==, 1);      /* 23:59:30, four days ago */
  g_assert_cmpuint (day_u (counts, 3, "sent"), ==, 0);
  g_assert_cmpuint (day_u (counts, 3, "failed"), ==, 1);
  g_assert_cmpuint (day_u (counts, 4, "cancelled"), ==, 2);  /* 00:00:30, two days ago */
  g_assert_cmpuint (day_u (counts, 3, "cancelled"), ==, 0);
  g_assert_cmpuint (day_u (counts, 0, "sent") + day_u (counts, 1, "sent"), ==, 0);
  g_clear_pointer (&counts, g_variant_unref);

  /* One day, and the whole range. */
  counts = daily_counts (f, 1);
  g_clear_pointer (&counts, g_variant_unref);
  counts = daily_counts (f, 90);
  g_clear_pointer (&counts, g_variant_unref);

  g_assert_false (mhf_ipc_agent1_call_get_daily_counts_sync (f->proxy, f->clinic, 0, &counts, NULL,
                                                             &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  g_assert_false (mhf_ipc_agent1_call_get_daily_counts_sync (f->proxy, f->clinic, 91, &counts, NULL,
                                                             &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  g_clear_error (&error);

  /* The CLI: a table, and JSON for scripts. */
  g_assert_cmpint (run_ctl (&out, &err, "history", clinic, "--daily", "--days", "7", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "SKIPPED"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_ctl (&out, &err, "history", clinic, "--daily", "--days", "5", "--json",
                            NULL), ==, 0);
  json = json_from_string (out, NULL);
  g_assert_nonnull (json);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (json)), ==, 5);
  g_assert_cmpint (json_object_get_int_member (
                     json_array_get_object_element (json_node_get_array (json), 2), "cancelled"),
                   ==, 2);
}

/* ---- the licence ------------------------------------------------------------------------- */

static GVariant *
licence_status (Fixture *f)
{
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *licence;

  call_ok (mhf_ipc_agent1_call_get_status_sync (f->proxy, &status, NULL, &error), error);
  licence = g_variant_lookup_value (status, "licence", G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (licence);
  return licence;
}

static void
assert_licence_state (Fixture    *f,
                      const char *state)
{
  g_autoptr(GVariant) licence = licence_status (f);

  g_assert_cmpstr (row_s (licence, "state"), ==, state);
}

static void
set_licence_ok (Fixture    *f,
                const char *token)
{
  g_autoptr(GError) error = NULL;

  call_ok (mhf_ipc_agent1_call_set_licence_sync (f->proxy, token, NULL, &error), error);
}

static void
assert_token_refused (Fixture    *f,
                      const char *token)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (mhf_ipc_agent1_call_set_licence_sync (f->proxy, token, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  /* The reply never quotes the token. */
  if (strlen (token) > 16)
    g_assert_null (strstr (error->message, token + strlen (token) - 16));
}

static void
test_licence_tokens (Fixture       *f,
                     gconstpointer  data)
{
  gint64 now = g_get_real_time ();
  g_autofree char *valid = mhf_test_licence_token ("clinic-5", 5, now + 365 * DAY_USEC, FALSE);
  g_autofree char *other = mhf_test_licence_token ("clinic-5", 5, now + 365 * DAY_USEC, TRUE);
  g_autofree char *longer = mhf_test_licence_token ("clinic-50", 50, now + 730 * DAY_USEC, FALSE);
  g_autofree char *tampered = NULL;
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
  g_autofree char *file = g_build_filename (mhf_test_bus_get_data_dir (f->bus), "..",
                                            "licence.txt", NULL);
  g_autofree char *audit = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GVariant) licence = NULL;
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) json = NULL;
  gint64 trial_ends = 0, expires = 0, next = 0;

  /* A new installation: a trial of 30 days. */
  licence = licence_status (f);
  g_assert_cmpstr (row_s (licence, "state"), ==, "trial");
  g_assert_cmpstr (row_s (licence, "plan"), ==, "trial");
  g_assert_true (g_variant_lookup (licence, "trial-ends-at", "x", &trial_ends));
  g_assert_cmpint (trial_ends, >, now + 29 * DAY_USEC);
  g_assert_cmpint (trial_ends, <=, now + 30 * DAY_USEC);
  g_clear_pointer (&licence, g_variant_unref);

  /* The other half of a longer token's payload under this signature, a
   * key the agent does not know, and things that are not tokens. */
  tampered = g_strdup_printf ("%.*s%s", (int) (strchr (longer, '.') - longer), longer,
                              strchr (valid, '.'));
  assert_token_refused (f, tampered);
  assert_token_refused (f, other);
  assert_token_refused (f, "");
  assert_token_refused (f, "not-a-token");
  assert_token_refused (f, "e30.AAAA");
  assert_licence_state (f, "trial");

  /* A valid token. */
  set_licence_ok (f, valid);
  licence = licence_status (f);
  g_assert_cmpstr (row_s (licence, "state"), ==, "active");
  g_assert_cmpstr (row_s (licence, "plan"), ==, "clinic-5");
  g_assert_cmpuint (lookup_u (licence, "clinics"), ==, 5);
  g_assert_true (g_variant_lookup (licence, "expires-at", "x", &expires));
  g_assert_cmpint (expires / G_USEC_PER_SEC, ==, (now + 365 * DAY_USEC) / G_USEC_PER_SEC);
  g_assert_cmpstr (row_s (licence, "portal-url"), ==, "https://billing.example.com/portal/test");

  /* A tampered token afterwards changes nothing. */
  assert_token_refused (f, tampered);
  g_clear_pointer (&licence, g_variant_unref);
  licence = licence_status (f);
  g_assert_cmpstr (row_s (licence, "plan"), ==, "clinic-5");

  /* Audited with what it grants, never the token. */
  call_ok (mhf_ipc_agent1_call_list_audit_sync (f->proxy, 0, 0, 500, &entries, &next, NULL,
                                                &error), error);
  audit = g_variant_print (entries, FALSE);
  g_assert_nonnull (strstr (audit, "licence.set"));
  g_assert_nonnull (strstr (audit, "licence: none → plan “clinic-5”, 5 clinics"));
  g_assert_null (strstr (audit, strchr (valid, '.') + 1));

  /* The CLI, from a file; and it survives a restart. */
  g_assert_true (g_file_set_contents (file, longer, -1, NULL));
  g_assert_cmpint (run_ctl (&out, &err, "licence", "set", file, NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_true (g_file_set_contents (file, tampered, -1, NULL));
  g_assert_cmpint (run_ctl (&out, &err, "licence", "set", file, NULL), !=, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  mhf_test_bus_stop_agent (f->bus);
  g_clear_object (&f->proxy);
  g_assert_nonnull (mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS));
  f->proxy = new_proxy (f);
  sign_in (f);
  g_assert_cmpint (run_ctl (&out, &err, "licence", "show", "--json", NULL), ==, 0);
  json = json_from_string (out, NULL);
  g_assert_nonnull (json);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json), "state"), ==,
                   "active");
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json), "plan"), ==,
                   "clinic-50");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_ctl (&out, &err, "licence", "show", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "clinic-50"));
}

static guint
count_state (GVariant   *rows,
             const char *state,
             gboolean    due_only)
{
  gint64 now = g_get_real_time ();
  guint n = 0;

  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);

      if (g_str_equal (row_s (row, "state"), state) &&
          (!due_only || row_x (row, "planned-at") <= now))
        n++;
    }
  return n;
}

static void
test_licence_pauses_sending (Fixture       *f,
                             gconstpointer  data)
{
  gint64 now = g_get_real_time ();
  g_autofree char *expired = mhf_test_licence_token ("clinic-5", 5, now - 20 * DAY_USEC, FALSE);
  g_autofree char *in_grace = mhf_test_licence_token ("clinic-5", 5, now - 2 * DAY_USEC, FALSE);
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) rows = NULL;
  guint due;

  /* Past expiry and grace: due messages wait, planned, and the clinic
   * says why. */
  set_licence_ok (f, expired);
  assert_licence_state (f, "expired");
  set_file_transport (f, FALSE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));
  g_usleep (2 * G_USEC_PER_SEC);
  rows = outbox (f, NULL);
  due = count_state (rows, "planned", TRUE);
  g_assert_cmpuint (due, >, 0);
  g_assert_cmpuint (count_state (rows, "sent", FALSE), ==, 0);
  g_assert_cmpuint (count_state (rows, "skipped", FALSE), ==, 0);
  g_assert_cmpuint (count_state (rows, "sending", FALSE), ==, 0);
  status = cliniko_status (f);
  g_assert_cmpstr (row_s (status, "sending-paused-reason"), ==, "licence-inactive");
  g_assert_nonnull (strstr (row_s (status, "sending-paused-text"), "licence"));
  g_assert_cmpint (run_ctl (&out, &err, "cliniko", "status", clinic, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Sending paused:"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_ctl (&out, &err, "licence", "show", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "paused"));

  /* A token that expired two days ago is in its grace period: sending
   * resumes, and the messages kept go out (or pass their gates). */
  set_licence_ok (f, in_grace);
  assert_licence_state (f, "grace");
  g_clear_pointer (&rows, g_variant_unref);
  rows = wait_until_sent (f);
  g_assert_cmpuint (count_state (rows, "sent", FALSE), >, 0);
  g_assert_cmpuint (count_state (rows, "sent", FALSE) + count_state (rows, "skipped", FALSE), ==,
                    due);
  g_clear_pointer (&status, g_variant_unref);
  status = cliniko_status (f);
  g_assert_cmpstr (row_s (status, "sending-paused-reason"), ==, "");
}

static void
test_trial_ended (Fixture       *f,
                  gconstpointer  data)
{
  gint64 now = g_get_real_time ();
  g_autofree char *valid = mhf_test_licence_token ("clinic-1", 1, now + 30 * DAY_USEC, FALSE);
  g_autofree char *sql = NULL;
  g_autoptr(GVariant) licence = NULL;
  g_autoptr(GVariant) status = NULL;
  gint64 trial_ends = 0;
  sqlite3 *db;

  /* The trial started 31 days ago: it is over. */
  mhf_test_bus_stop_agent (f->bus);
  sql = g_strdup_printf ("UPDATE settings SET value = '%" G_GINT64_FORMAT "'"
                         " WHERE key = 'trial-started-at'", now - 31 * DAY_USEC);
  db = open_database (f);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_close (db);
  g_clear_object (&f->proxy);
  g_assert_nonnull (mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS));
  f->proxy = new_proxy (f);
  sign_in (f);

  licence = licence_status (f);
  g_assert_cmpstr (row_s (licence, "state"), ==, "expired");
  g_assert_true (g_variant_lookup (licence, "trial-ends-at", "x", &trial_ends));
  g_assert_cmpint (trial_ends, <, now);
  status = cliniko_status (f);
  g_assert_cmpstr (row_s (status, "sending-paused-reason"), ==, "licence-inactive");

  set_licence_ok (f, valid);
  assert_licence_state (f, "active");
  g_clear_pointer (&status, g_variant_unref);
  status = cliniko_status (f);
  g_assert_cmpstr (row_s (status, "sending-paused-reason"), !=, "licence-inactive");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

#define ADD(path, func) \
  g_test_add (path, Fixture, agent_env, fixture_setup, func, fixture_teardown)

  ADD ("/send/gates-and-messages", test_gates_and_messages);
  ADD ("/send/already-recorded", test_already_recorded);
  ADD ("/send/other-kinds", test_other_kinds);
  ADD ("/send/cliniko-outage", test_cliniko_outage);
  g_test_add ("/send/write-back-retried", Fixture, fast_env, fixture_setup,
              test_write_back_retried, fixture_teardown);
  ADD ("/send/no-patient-data-kept", test_no_patient_data_kept);
  ADD ("/send/daily-counts", test_daily_counts);
  ADD ("/send/licence-tokens", test_licence_tokens);
  ADD ("/send/licence-pauses-sending", test_licence_pauses_sending);
  ADD ("/send/trial-ended", test_trial_ended);

  return g_test_run ();
}
