/* mhf-application.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "mhf-application.h"

#include "mhf-window.h"

#include <glib/gi18n.h>

struct _MhfApplication
{
  AdwApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (MhfApplication, mhf_application, ADW_TYPE_APPLICATION)

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  MhfApplication *self = MHF_APPLICATION (user_data);
  static const char *developers[] = {
    "MyHealthFollowup developers",
    NULL
  };
  GtkWindow *window;

  g_assert (MHF_IS_APPLICATION (self));

  window = gtk_application_get_active_window (GTK_APPLICATION (self));

  adw_show_about_window (window,
                         /* Translators: the product name; usually not translated */
                         "application-name", _("MyHealthFollowup"),
                         "application-icon", APP_ID,
                         /* Translators: the people behind the product */
                         "developer-name", _("The MyHealthFollowup developers"),
                         "developers", developers,
                         "version", PACKAGE_VERSION,
                         "comments", _("Appointment reminders and follow-up e-mails for "
                                       "allied-health clinics that use Cliniko."),
                         "license-type", GTK_LICENSE_GPL_3_0,
                         /* Translators: replace with your names, one per line */
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  MhfApplication *self = MHF_APPLICATION (user_data);
  g_autoptr(GList) windows = NULL;

  g_assert (MHF_IS_APPLICATION (self));

  /* Closing, rather than destroying, lets each window save its size and
   * cancel its requests.
   */
  windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (self)));
  for (const GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (GTK_WINDOW (l->data));

  g_application_quit (G_APPLICATION (self));
}

static const GActionEntry app_actions[] = {
  { "about", about_action },
  { "quit", quit_action },
};

static void
mhf_application_activate (GApplication *application)
{
  MhfApplication *self = MHF_APPLICATION (application);
  GtkWindow *window;

  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window == NULL)
    window = GTK_WINDOW (mhf_window_new (ADW_APPLICATION (self), NULL));

  gtk_window_present (window);
}

static void
mhf_application_startup (GApplication *application)
{
  static const char *quit_accels[] = { "<Control>q", NULL };
  MhfApplication *self = MHF_APPLICATION (application);

  G_APPLICATION_CLASS (mhf_application_parent_class)->startup (application);

  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
}

static void
mhf_application_class_init (MhfApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->activate = mhf_application_activate;
  app_class->startup = mhf_application_startup;
}

static void
mhf_application_init (MhfApplication *self)
{
  g_action_map_add_action_entries (G_ACTION_MAP (self),
                                   app_actions,
                                   G_N_ELEMENTS (app_actions),
                                   self);
}

MhfApplication *
mhf_application_new (void)
{
  /* The resource base stays the same for the .Devel id, so that style.css
   * and the templates are found in both profiles.
   */
  return g_object_new (MHF_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", RESOURCE_BASE,
                       NULL);
}
