/* SPDX-License-Identifier: MIT */
/* gsd's log: lines on standard error. Under systemd, when standard error
 * is the journal's stream ($JOURNAL_STREAM names it), each line starts
 * with its syslog priority ("<4>" for a warning: sd-daemon(3)), so that
 * journald files it at that priority, and leaves out the time and pid the
 * journal records anyway. */
#pragma once

#include <spdlog/common.h>

namespace gs {

/* Whether standard error is the journal's stream. */
bool stderrIsJournal();
void setUpLogging(spdlog::level::level_enum level);
/* The syslog priority of a level: trace and debug 7, info 6, warn 4,
 * error 3, critical 2. */
int syslogPriority(spdlog::level::level_enum level);

} // namespace gs
