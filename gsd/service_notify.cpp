/* SPDX-License-Identifier: MIT */
#include "gsd/service_notify.hpp"

#ifdef HA_GS_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace gs {

namespace {

void notify([[maybe_unused]] const std::string &state)
{
#ifdef HA_GS_HAVE_LIBSYSTEMD
    /* unset_environment 0: gsd starts no children that should talk to
     * systemd, and keeping NOTIFY_SOCKET lets STOPPING=1 reach it too. */
    sd_notify(0, state.c_str());
#endif
}

} // namespace

void notifyReady(const std::string &status)
{
    notify("READY=1\nSTATUS=" + status);
}

void notifyStopping(const std::string &status)
{
    notify("STOPPING=1\nSTATUS=" + status);
}

void notifyStatus(const std::string &status)
{
    notify("STATUS=" + status);
}

} // namespace gs
