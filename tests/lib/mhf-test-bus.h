/* mhf-test-bus.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A private session bus for one test case, with the agent D-Bus activatable
 * from the build tree and, on request, a real gnome-keyring-daemon.
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  MHF_TEST_BUS_NONE           = 0,
  /* Start gnome-keyring-daemon on the bus and unlock its login keyring. */
  MHF_TEST_BUS_KEYRING        = 1 << 0,
  /* Like KEYRING, then lock the default collection again. */
  MHF_TEST_BUS_KEYRING_LOCKED = 1 << 1,
  /* Do not make the agent activatable (for "agent unreachable" tests). */
  MHF_TEST_BUS_NO_AGENT       = 1 << 2,
} MhfTestBusFlags;

typedef struct _MhfTestBus MhfTestBus;

MhfTestBus      *mhf_test_bus_new            (MhfTestBusFlags  flags);
MhfTestBus      *mhf_test_bus_new_full       (MhfTestBusFlags     flags,
                                              const char * const *extra_env);
GDBusConnection *mhf_test_bus_get_connection (MhfTestBus      *self);
const char      *mhf_test_bus_get_address    (MhfTestBus      *self);
const char      *mhf_test_bus_get_data_dir   (MhfTestBus      *self);
char            *mhf_test_bus_dup_log        (MhfTestBus      *self);
gboolean         mhf_test_bus_wait_for_name  (MhfTestBus      *self,
                                              const char      *name,
                                              gboolean         owned,
                                              guint            timeout_ms);
void             mhf_test_bus_stop_agent     (MhfTestBus      *self);
void             mhf_test_bus_start_keyring  (MhfTestBus      *self,
                                              gboolean         locked);
const char      *mhf_test_bus_get_agent_path (void);
const char      *mhf_test_bus_get_ctl_path   (void);
GVariant        *mhf_test_bus_wait_for_state (MhfTestBus      *self,
                                              const char      *state,
                                              guint            timeout_ms);
void             mhf_test_bus_free           (MhfTestBus      *self);

int              mhf_test_run_argv           (const char         *stdin_text,
                                              char              **out,
                                              char              **err,
                                              const char * const *argv);
int              mhf_test_run                (const char         *stdin_text,
                                              char              **out,
                                              char              **err,
                                              const char         *program,
                                              ...) G_GNUC_NULL_TERMINATED;
int              mhf_test_run_ctl            (const char         *stdin_text,
                                              char              **out,
                                              char              **err,
                                              const char         *first,
                                              ...) G_GNUC_NULL_TERMINATED;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhfTestBus, mhf_test_bus_free)

G_END_DECLS
