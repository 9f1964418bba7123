/* mhf-daily-chart.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Messages per day as stacked bars, one bar a day, oldest on the left:
 * sent, skipped, failed and cancelled, from GetDailyCounts(). A bar's
 * tooltip gives its day in numbers, and the chart's accessible
 * description sums the period up, so the figures never hide in colour.
 */

#include "config.h"

#include "mhf-daily-chart.h"

#include <glib/gi18n.h>

#define N_STATES 4
#define BAR_GAP  2.0f
#define HEIGHT   120

typedef struct
{
  char  *day;
  guint  counts[N_STATES];
} Day;

struct _MhfDailyChart
{
  GtkWidget  parent_instance;

  GArray    *days;     /* of Day */
  guint      max;      /* the tallest bar */
};

G_DEFINE_FINAL_TYPE (MhfDailyChart, mhf_daily_chart, GTK_TYPE_WIDGET)

static const char * const states[N_STATES] = { "sent", "skipped", "failed", "cancelled" };

/* libadwaita's palette: green, yellow, red and a neutral grey. */
static const GdkRGBA colours[N_STATES] = {
  { 0.149f, 0.635f, 0.412f, 1.0f },
  { 0.898f, 0.647f, 0.039f, 1.0f },
  { 0.753f, 0.110f, 0.157f, 1.0f },
  { 0.604f, 0.600f, 0.588f, 1.0f },
};

static const char *
state_label (guint i)
{
  switch (i)
    {
    case 0: return C_("chart", "Sent");
    case 1: return C_("chart", "Skipped");
    case 2: return C_("chart", "Failed");
    default: return C_("chart", "Cancelled");
    }
}

static void
day_clear (gpointer data)
{
  g_free (((Day *) data)->day);
}

static void
mhf_daily_chart_snapshot (GtkWidget   *widget,
                          GtkSnapshot *snapshot)
{
  MhfDailyChart *self = MHF_DAILY_CHART (widget);
  float width = gtk_widget_get_width (widget);
  float height = gtk_widget_get_height (widget);
  GdkRGBA axis;
  float bar;

  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &axis);
  axis.alpha = 0.25f;
  gtk_snapshot_append_color (snapshot, &axis, &GRAPHENE_RECT_INIT (0, height - 1, width, 1));
  if (self->days->len == 0 || self->max == 0)
    return;

  bar = width / self->days->len;
  for (guint i = 0; i < self->days->len; i++)
    {
      const Day *d = &g_array_index (self->days, Day, i);
      float y = height - 1;

      for (guint s = 0; s < N_STATES; s++)
        {
          float h = (height - 1) * d->counts[s] / self->max;

          if (h <= 0)
            continue;
          y -= h;
          gtk_snapshot_append_color (snapshot, &colours[s],
                                     &GRAPHENE_RECT_INIT (i * bar + BAR_GAP / 2, y,
                                                          MAX (1.0f, bar - BAR_GAP), h));
        }
    }
}

static void
mhf_daily_chart_measure (GtkWidget      *widget,
                         GtkOrientation  orientation,
                         int             for_size,
                         int            *minimum,
                         int            *natural,
                         int            *minimum_baseline,
                         int            *natural_baseline)
{
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    *minimum = *natural = 200;
  else
    *minimum = *natural = HEIGHT;
}

static gboolean
mhf_daily_chart_query_tooltip (GtkWidget  *widget,
                               int         x,
                               int         y,
                               gboolean    keyboard,
                               GtkTooltip *tooltip)
{
  MhfDailyChart *self = MHF_DAILY_CHART (widget);
  g_autofree char *text = NULL;
  const Day *d;
  guint i;

  if (self->days->len == 0 || keyboard)
    return FALSE;
  i = MIN ((guint) (x * self->days->len / MAX (1, gtk_widget_get_width (widget))),
           self->days->len - 1);
  d = &g_array_index (self->days, Day, i);
  /* Translators: a day's bar, e.g. "2026-12-01: 12 sent, 3 skipped, 0 failed, 1 cancelled" */
  text = g_strdup_printf (_("%s: %u sent, %u skipped, %u failed, %u cancelled"), d->day,
                          d->counts[0], d->counts[1], d->counts[2], d->counts[3]);
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

static void
mhf_daily_chart_finalize (GObject *object)
{
  g_clear_pointer (&MHF_DAILY_CHART (object)->days, g_array_unref);
  G_OBJECT_CLASS (mhf_daily_chart_parent_class)->finalize (object);
}

static void
mhf_daily_chart_class_init (MhfDailyChartClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = mhf_daily_chart_finalize;
  widget_class->snapshot = mhf_daily_chart_snapshot;
  widget_class->measure = mhf_daily_chart_measure;
  widget_class->query_tooltip = mhf_daily_chart_query_tooltip;
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
mhf_daily_chart_init (MhfDailyChart *self)
{
  self->days = g_array_new (FALSE, TRUE, sizeof (Day));
  g_array_set_clear_func (self->days, day_clear);
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Messages per day"), -1);
}

GtkWidget *
mhf_daily_chart_new (void)
{
  return g_object_new (MHF_TYPE_DAILY_CHART, NULL);
}

/**
 * mhf_daily_chart_set_counts:
 * @counts: GetDailyCounts()'s aa{sv}, oldest day first
 */
void
mhf_daily_chart_set_counts (MhfDailyChart *self,
                            GVariant      *counts)
{
  g_autofree char *summary = NULL;
  guint totals[N_STATES] = { 0 };

  g_return_if_fail (MHF_IS_DAILY_CHART (self));

  g_array_set_size (self->days, 0);
  self->max = 0;
  for (gsize i = 0; i < g_variant_n_children (counts); i++)
    {
      g_autoptr(GVariant) dict = g_variant_get_child_value (counts, i);
      Day d = { NULL, { 0 } };
      guint sum = 0;

      g_variant_lookup (dict, "day", "s", &d.day);
      for (guint s = 0; s < N_STATES; s++)
        {
          g_variant_lookup (dict, states[s], "u", &d.counts[s]);
          sum += d.counts[s];
          totals[s] += d.counts[s];
        }
      self->max = MAX (self->max, sum);
      g_array_append_val (self->days, d);
    }

  /* Translators: the chart's description for screen readers */
  summary = g_strdup_printf (_("Last %u days: %u sent, %u skipped, %u failed, %u cancelled"),
                             self->days->len, totals[0], totals[1], totals[2], totals[3]);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  summary, -1);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
mhf_daily_chart_get_n_days (MhfDailyChart *self)
{
  g_return_val_if_fail (MHF_IS_DAILY_CHART (self), 0);
  return self->days->len;
}

/* The period's total for one state, as drawn. */
guint
mhf_daily_chart_get_total (MhfDailyChart *self,
                           const char    *state)
{
  guint total = 0;

  g_return_val_if_fail (MHF_IS_DAILY_CHART (self), 0);
  for (guint s = 0; s < N_STATES; s++)
    if (g_strcmp0 (states[s], state) == 0)
      for (guint i = 0; i < self->days->len; i++)
        total += g_array_index (self->days, Day, i).counts[s];
  return total;
}

/**
 * mhf_daily_chart_legend:
 *
 * Returns: (transfer floating): a row of labels naming the colours
 */
GtkWidget *
mhf_daily_chart_legend (void)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);

  for (guint s = 0; s < N_STATES; s++)
    {
      g_autofree char *css = g_strdup_printf ("label { color: rgb(%d,%d,%d); }",
                                              (int) (colours[s].red * 255),
                                              (int) (colours[s].green * 255),
                                              (int) (colours[s].blue * 255));
      GtkWidget *swatch = gtk_label_new ("■");
      GtkWidget *label = gtk_label_new (state_label (s));
      GtkCssProvider *provider = gtk_css_provider_new ();

      gtk_css_provider_load_from_data (provider, css, -1);
      gtk_style_context_add_provider (gtk_widget_get_style_context (swatch),
                                      GTK_STYLE_PROVIDER (provider),
                                      GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
      g_object_unref (provider);
      gtk_accessible_update_state (GTK_ACCESSIBLE (swatch), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE,
                                   -1);
      gtk_box_append (GTK_BOX (box), swatch);
      gtk_box_append (GTK_BOX (box), label);
    }
  return box;
}
