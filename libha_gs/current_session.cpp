/* SPDX-License-Identifier: MIT */
#include "libha_gs/current_session.hpp"

#include <pthread.h>
#include <unistd.h>

#include <vector>

namespace gs::client {

namespace {

Mutex globalMutex;
std::shared_ptr<Session> current;
/* The process whose ha_gs_init is connecting (a second one answers
 * HA_GS_EXISTS); 0 when none. A pid rather than a flag, so that a fork during
 * another thread's ha_gs_init leaves the child free to initialize. */
pid_t openingPid = 0;

bool openingLocked()
{
    return openingPid != 0 && openingPid == getpid();
}

/* Sessions inherited across fork(): kept reachable forever, never destroyed,
 * because destroying them would close the parent's ZeroMQ objects. */
std::vector<std::shared_ptr<Session>> &abandoned()
{
    static auto *list = new std::vector<std::shared_ptr<Session>>;
    return *list;
}

void forgetIfForkedLocked()
{
    if (current && current->inForkedChild()) {
        current->abandonAfterFork();
        abandoned().push_back(std::move(current));
        current.reset();
    }
}

/* A fork while another thread holds the global mutex would leave it locked
 * forever in the child; holding it across fork() prevents that. It is only
 * ever held briefly. */
void lockForFork()
{
    globalMutex.lock();
}
void unlockAfterFork()
{
    globalMutex.unlock();
}
[[maybe_unused]] const int holdsMutexAcrossFork =
    kThreadSafe ? pthread_atfork(lockForFork, unlockAfterFork, unlockAfterFork) : 0;

} // namespace

std::shared_ptr<Session> currentSession()
{
    std::lock_guard<Mutex> lock(globalMutex);
    forgetIfForkedLocked();
    return current;
}

ha_gs_rc_t openSession(const SessionOptions &options, ha_gs_descriptor_t *descriptor)
{
    std::shared_ptr<Session> previous;
    {
        std::lock_guard<Mutex> lock(globalMutex);
        forgetIfForkedLocked();
        if (openingLocked() || (current && current->alive()))
            return HA_GS_EXISTS;
        openingPid = getpid();
        previous = std::move(current);
        current.reset();
    }
    /* A dead session is destroyed outside the global mutex (unless another
     * thread still uses it, in which case that thread destroys it). */
    previous.reset();

    std::shared_ptr<Session> session;
    ha_gs_rc_t rc;
    try {
        rc = Session::open(options, session);
    } catch (...) {
        std::lock_guard<Mutex> lock(globalMutex);
        openingPid = 0;
        throw;
    }
    std::lock_guard<Mutex> lock(globalMutex);
    openingPid = 0;
    if (rc == HA_GS_OK) {
        current = session;
        *descriptor = session->descriptor();
    }
    return rc;
}

void closeSession()
{
    std::shared_ptr<Session> session;
    {
        std::lock_guard<Mutex> lock(globalMutex);
        forgetIfForkedLocked();
        session = std::move(current);
        current.reset();
    }
    if (session)
        session->quit();
}

} // namespace gs::client
