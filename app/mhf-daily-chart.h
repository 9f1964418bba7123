/* mhf-daily-chart.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define MHF_TYPE_DAILY_CHART (mhf_daily_chart_get_type ())

G_DECLARE_FINAL_TYPE (MhfDailyChart, mhf_daily_chart, MHF, DAILY_CHART, GtkWidget)

GtkWidget  *mhf_daily_chart_new         (void);
void        mhf_daily_chart_set_counts  (MhfDailyChart *self,
                                         GVariant      *counts);
guint       mhf_daily_chart_get_n_days  (MhfDailyChart *self);
GtkWidget  *mhf_daily_chart_legend      (void);
guint       mhf_daily_chart_get_total   (MhfDailyChart *self,
                                         const char    *state);

G_END_DECLS
