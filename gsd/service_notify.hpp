/* SPDX-License-Identifier: MIT */
/* service_notify - what gsd tells a service manager (systemd's sd_notify
 * protocol: READY=1, STOPPING=1, STATUS=...). Does nothing when gsd was not
 * started by one ($NOTIFY_SOCKET unset) or was built without libsystemd. */
#pragma once

#include <string>

namespace gs {

/* gsd is bound and serves; `status` is a line for `systemctl status`. */
void notifyReady(const std::string &status);
/* gsd is shutting down. */
void notifyStopping(const std::string &status);
/* A new status line only (e.g. why gsd could not start). */
void notifyStatus(const std::string &status);

} // namespace gs
