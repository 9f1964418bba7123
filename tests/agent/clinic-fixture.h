/* clinic-fixture.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A connected clinic for agent tests: the fake Cliniko, a private bus
 * with a real keyring and the real agent, an owner signed in, a clinic
 * connected with the sample clinic's key and a template; and helpers to
 * scan, read the outbox and open the database as IT support could.
 */

#pragma once

#include <json-glib/json-glib.h>
#include <sqlite3.h>

#include "mhf-error.h"
#include "mhf-fake-cliniko.h"
#include "mhf-ipc-agent.h"
#include "mhf-test-bus.h"

G_BEGIN_DECLS

#define WAIT_MS    30000
#define OWNER_PASS "correct horse battery"
#define GOOD_KEY   "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"
#define HOUR_USEC  ((gint64) 60 * 60 * G_USEC_PER_SEC)
#define DAY_USEC   (24 * HOUR_USEC)

#define call_ok(call, err) \
  G_STMT_START { \
    gboolean ok_ = (call); \
    g_assert_no_error (err); \
    g_assert_true (ok_); \
  } G_STMT_END

typedef struct
{
  MhfTestBus     *bus;
  MhfFakeCliniko *fake;
  MhfIpcAgent1   *proxy;
  gint64          clinic;
  gint64          template_id;
  const char * const *env;    /* the agent's environment, or NULL */
  gpointer        data;       /* for the test */
} Fixture;

MhfIpcAgent1 *new_proxy        (Fixture       *f);
void          sign_in          (Fixture       *f);
GVariant     *cliniko_status   (Fixture       *f);
void          fixture_setup    (Fixture       *f,
                                gconstpointer  data);
void          fixture_teardown (Fixture       *f,
                                gconstpointer  data);

/* A reminder ("… before") or follow-up ("… after") with the fixture's
 * template; enable_rule() adds any rule dictionary and enables it. */
GVariant     *rule_dict        (Fixture       *f,
                                const char    *timing);
gint64        enable_rule      (Fixture       *f,
                                GVariant      *rule);
gint64        add_enabled_rule (Fixture       *f,
                                const char    *timing);
GVariant     *scan             (Fixture       *f);
GVariant     *outbox           (Fixture       *f,
                                const char    *state);
GPtrArray    *rows_for         (GVariant      *messages,
                                const char    *appointment,
                                const char    *attendee);
guint         lookup_u         (GVariant      *dict,
                                const char    *key);
const char   *row_s            (GVariant      *row,
                                const char    *key);
gint64        row_x            (GVariant      *row,
                                const char    *key);
gint64        fake_start       (Fixture       *f,
                                const char    *collection,
                                const char    *id);
JsonObject   *fake_record      (Fixture       *f,
                                const char    *collection,
                                const char    *id);
sqlite3      *open_database    (Fixture       *f);
gint64        query_int        (sqlite3       *db,
                                const char    *sql);
int           run_ctl          (char         **out,
                                char         **err,
                                ...) G_GNUC_NULL_TERMINATED;

G_END_DECLS
