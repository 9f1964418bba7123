/* mhf-variables.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "mhf-variables.h"

static const char * const names[] = {
  "patient.first_name",        /* the preferred first name when there is one */
  "practitioner.name",
  "business.name",
  "business.address",
  "business.phone",
  "appointment.date",          /* in the business's zone, for the locale */
  "appointment.time",
  "appointment.duration",
  "appointment.type",
  "terminology.patient",       /* the account's own word: patient, client… */
  "sender.name",
  "sender.email",
  NULL
};

const char * const *
mhf_template_variable_names (void)
{
  return names;
}
