/* SPDX-License-Identifier: MIT */
/*
 * The process's one session (the API has no handle).
 *
 * Callers take a shared_ptr under a global mutex and use the session without
 * it, so ha_gs_quit in one thread never destroys a session another thread is
 * still inside; the last user destroys it. After fork() the child sees a
 * session whose pid is not its own and treats the library as not
 * initialized, abandoning the inherited session without touching the
 * parent's ZeroMQ objects.
 */
#pragma once

#include "libha_gs/session.hpp"

#include <memory>

namespace gs::client {

/* The live or dead session of this process; null when not initialized. */
std::shared_ptr<Session> currentSession();

/* ha_gs_init after argument checks: HA_GS_EXISTS while a live session
 * exists; a dead or quit one is replaced. */
ha_gs_rc_t openSession(const SessionOptions &options, ha_gs_descriptor_t *descriptor);

/* ha_gs_quit. */
void closeSession();

} // namespace gs::client
