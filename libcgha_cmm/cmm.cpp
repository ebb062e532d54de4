/* SPDX-License-Identifier: MIT */
/*
 * libcgha_cmm: cmm.h over a CMM session with gsd.
 *
 * One process-wide State behind one lock, held only for short steps, never
 * across a round trip: a call sends its request under a fresh id and waits
 * for the reply with the lock let go (libcgha_cmm/connection.hpp), so calls
 * from several threads are in flight together, and whichever thread reads
 * the connection hands the others their replies. A call waits for the lock
 * at most one timeout (it is held that long only while connecting), then
 * has one timeout for its own round trip. The lock is a FairLock, granted
 * in the order threads asked for it: threads making calls back to back
 * cannot starve a thread that polls and dispatches (or filters, gets the
 * descriptor, disconnects). Registering and unregistering are serialized by
 * a lock of their own, held across their round trip, so that the library
 * and gsd agree on whether a registration exists. The filter is an atomic
 * word and needs no lock. Callbacks run with the lock released, in the
 * thread calling cmm_notify_dispatch; dispatches are serialized by a second
 * lock so that order is kept. The notification descriptor is an epoll
 * descriptor owned by the State: it holds an eventfd that is readable while
 * notifications wait or the connection is lost, plus the connection's
 * ZeroMQ descriptors, which the transport keeps quiet by draining after
 * every socket operation. fork(): the child handler forgets the connection
 * (its ZeroMQ objects belong to the parent and are left untouched), the
 * registration and the filter.
 */
#include "cmm.h"
#include "common/endpoint.hpp"
#include "libcgha_cmm/connection.hpp"
#include "libcgha_cmm/fair_lock.hpp"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {

using gs::cmmlib::Clock;
using gs::cmmlib::Connection;
using gs::cmmlib::FairLock;
using gs::cmmlib::Lock;
namespace wire = gs::wire;

constexpr int kFirstKind = CMM_MASTER_ELECTED;
constexpr int kLastKind = CMM_NODE_INELIGIBLE;
constexpr uint32_t kKinds = kLastKind - kFirstKind + 1;
constexpr uint32_t kAllKinds = (1u << kKinds) - 1;

bool knownKind(int kind)
{
    return kind >= kFirstKind && kind <= kLastKind;
}
uint32_t bitOf(int kind)
{
    return 1u << (kind - kFirstKind);
}

struct Registration {
    cmm_notify_t callback = nullptr;
    void *data = nullptr;
    bool broken = false; /* its connection was lost */
};

struct State {
    FairLock mutex;
    pthread_mutex_t dispatchLock = PTHREAD_MUTEX_INITIALIZER;
    /* Held by cmm_cmc_register and cmm_cmc_unregister across their round
     * trip (taken before the mutex). */
    pthread_mutex_t registrationLock = PTHREAD_MUTEX_INITIALIZER;
    /* An unregistration is in flight: dispatch starts no callback, and
     * waits on `unregistered` (with the mutex let go) until it is over,
     * rather than return while the descriptor stays readable (the
     * application's loop would spin for the whole round trip). A pointer so
     * that a forked child can leave the parent's (possibly in use) alone. */
    bool unregistering = false;
    std::unique_ptr<std::condition_variable_any> unregistered =
        std::make_unique<std::condition_variable_any>();
    /* Read before the mutex is taken (to bound the wait for it). */
    std::atomic<std::chrono::nanoseconds> timeout{std::chrono::seconds(CMM_DEFAULT_TIMEOUT_SEC)};
    /* Shared with the calls in flight, which may outlive it here. */
    std::shared_ptr<Connection> connection;
    std::optional<Registration> registration;
    std::deque<wire::CmmNote> pending; /* received, not yet dispatched */
    /* Local to the process: read and changed without the lock, so that
     * cmm_cmc_filter never waits for another thread's round trip. */
    std::atomic<uint32_t> filter{kAllKinds};
    int epollFd = -1;
    int readyFd = -1;
    bool readySet = false;
    int callbacksRunning = 0;
    uint64_t generation = 0; /* bumped by cmm_disconnect */
};

State &state()
{
    static State *s = new State; /* never destroyed: usable from atexit code */
    return *s;
}

thread_local bool inCallback = false;

/* Holds State::registrationLock for a register or unregister. */
class RegistrationGuard {
  public:
    explicit RegistrationGuard(State &s) : s_(s) { pthread_mutex_lock(&s_.registrationLock); }
    ~RegistrationGuard() { pthread_mutex_unlock(&s_.registrationLock); }
    RegistrationGuard(const RegistrationGuard &) = delete;
    RegistrationGuard &operator=(const RegistrationGuard &) = delete;

  private:
    State &s_;
};

/* Takes the mutex for a call that talks to gsd. Another thread's connect
 * may hold it; waiting is bounded by this caller's own timeout, so a call
 * returns within twice the timeout even when gsd hangs. */
bool lockForCall(State &s, Lock &lock)
{
    lock = Lock(s.mutex, std::defer_lock);
    return lock.try_lock_for(s.timeout.load());
}

/* ---- Descriptor --------------------------------------------------------- */

void unwatch(State &s)
{
    if (s.connection)
        s.connection->unwatch();
}

bool watch(State &s, int fd)
{
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    return epoll_ctl(s.epollFd, EPOLL_CTL_ADD, fd, &event) == 0;
}

cmm_error_t openDescriptor(State &s)
{
    if (s.epollFd >= 0)
        return CMM_OK;
    s.epollFd = epoll_create1(EPOLL_CLOEXEC);
    s.readyFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s.epollFd < 0 || s.readyFd < 0 || !watch(s, s.readyFd)) {
        if (s.epollFd >= 0)
            ::close(s.epollFd);
        if (s.readyFd >= 0)
            ::close(s.readyFd);
        s.epollFd = s.readyFd = -1;
        return CMM_ENOMEM;
    }
    s.readySet = false;
    if (s.connection && !s.connection->dead() && !s.connection->watch(s.epollFd))
        return CMM_ENOMEM;
    return CMM_OK;
}

void closeDescriptor(State &s)
{
    unwatch(s);
    if (s.epollFd >= 0)
        ::close(s.epollFd);
    if (s.readyFd >= 0)
        ::close(s.readyFd);
    s.epollFd = s.readyFd = -1;
    s.readySet = false;
}

/* Takes what the connection received (reading it first unless `read` is
 * false: the caller has just drained it) and makes the eventfd readable
 * exactly while dispatch has work. */
void collect(State &s, bool read = true)
{
    if (s.connection) {
        if (read)
            s.connection->drain();
        /* Without a registration, notes stay in the connection: gsd sends
         * them only to registered sessions, so the ones that arrive with (or
         * right after) the reply to Register belong to the registration
         * being made. */
        auto &notes = s.connection->notes();
        if (s.registration) {
            if (!s.registration->broken)
                s.pending.insert(s.pending.end(), notes.begin(), notes.end());
            notes.clear();
        }
        if (s.connection->dead() && s.registration)
            s.registration->broken = true;
    }
    const bool ready = s.registration && (!s.pending.empty() || s.registration->broken);
    if (s.readyFd < 0 || ready == s.readySet)
        return;
    if (ready) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(s.readyFd, &one, sizeof one);
    } else {
        uint64_t count;
        [[maybe_unused]] const ssize_t n = ::read(s.readyFd, &count, sizeof count);
    }
    s.readySet = ready;
}

/* ---- Connection --------------------------------------------------------- */

/* Ends the connection; threads still waiting on it find it dead. The
 * caller destroys `dropped` after letting go of the lock. */
void dropConnection(State &s, std::shared_ptr<Connection> &dropped)
{
    collect(s);
    unwatch(s);
    if (s.connection)
        s.connection->shutdown();
    dropped = std::move(s.connection);
}

cmm_error_t connectLocked(State &s, std::chrono::nanoseconds timeout,
                          std::shared_ptr<Connection> &dropped)
{
    if (s.connection) {
        collect(s);
        if (!s.connection->dead())
            return CMM_OK;
        dropConnection(s, dropped);
    }
    std::shared_ptr<Connection> connection;
    try {
        connection = std::make_shared<Connection>();
    } catch (const std::bad_alloc &) {
        return CMM_ENOMEM;
    } catch (const std::exception &) {
        return CMM_ENOMEM;
    }
    const cmm_error_t rc = connection->open(gs::resolveEndpoint(), Clock::now() + timeout);
    if (rc != CMM_OK)
        return rc;
    s.connection = std::move(connection);
    if (s.epollFd >= 0 && !s.connection->watch(s.epollFd))
        return CMM_ENOMEM;
    return CMM_OK;
}

/* One round trip: the call's result (gsd's rc, or the transport's). The
 * lock is let go while the reply is awaited. `hold` keeps the connection
 * used; the caller releases it after the lock (its end may linger for the
 * Quit). */
cmm_error_t callLocked(State &s, Lock &lock, std::shared_ptr<Connection> &hold, int op,
                       wire::CmmReply &reply, uint32_t node = 0, int qualif = 0)
{
    try {
        if (const cmm_error_t rc = connectLocked(s, s.timeout.load(), hold); rc != CMM_OK)
            return rc;
        hold = s.connection;
        Connection &connection = *hold;
        const gs::RequestId id = connection.send(wire::CmmReq{0, op, node, qualif});
        /* The send drained the connection: a notification it read must
         * reach the descriptor now, not when this call's reply comes (this
         * thread may be the only one reading until then). */
        collect(s, false);
        const Clock::time_point deadline = Clock::now() + s.timeout.load();
        cmm_error_t rc = CMM_OK;
        for (;;) {
            if (id == 0) {
                rc = CMM_ECONN;
                break;
            }
            if (std::optional<wire::CmmReply> answer = connection.take(id)) {
                reply = std::move(*answer);
                break;
            }
            if (connection.dead() || Clock::now() >= deadline) {
                rc = connection.dead() ? CMM_ECONN : CMM_ETIMEDOUT;
                connection.forget(id);
                break;
            }
            connection.wait(lock, deadline);
            /* What this thread routed for the others (notifications too). */
            collect(s);
        }
        collect(s);
        if (rc != CMM_OK)
            return rc;
        return static_cast<cmm_error_t>(reply.rc);
    } catch (const std::bad_alloc &) {
        return CMM_ENOMEM;
    } catch (const std::exception &) {
        return CMM_EOTHER;
    }
}

cmm_error_t call(int op, wire::CmmReply &reply, uint32_t node = 0, int qualif = 0)
{
    State &s = state();
    std::shared_ptr<Connection> hold; /* released after the lock */
    Lock lock;
    if (!lockForCall(s, lock))
        return CMM_ETIMEDOUT;
    return callLocked(s, lock, hold, op, reply, node, qualif);
}

cmm_error_t simple(int op, uint32_t node = 0, int qualif = 0)
{
    wire::CmmReply reply;
    return call(op, reply, node, qualif);
}

/* The longest timeout kept: "forever" spelled as a huge tv_sec must not
 * overflow the nanosecond clock arithmetic of every call. */
constexpr std::chrono::seconds kMaxTimeout{std::chrono::days(3650)}; /* cmm.h: ten years */

std::chrono::nanoseconds clampedTimeout(const timespec_t &timeout)
{
    if (timeout.tv_sec >= kMaxTimeout.count())
        return kMaxTimeout;
    return std::chrono::seconds(timeout.tv_sec) + std::chrono::nanoseconds(timeout.tv_nsec);
}

void fill(const wire::CmmMember &from, cmm_member_t &to)
{
    std::memset(&to, 0, sizeof to);
    to.nodeid = from.nodeid;
    std::strncpy(to.name, from.name.c_str(), sizeof to.name - 1);
    std::strncpy(to.addr, from.addr.c_str(), sizeof to.addr - 1);
    to.domainid = from.domainid;
    to.sflag = from.sflag;
    to.incarnation_number = from.incarnation;
    std::strncpy(to.software_load_id, from.softwareLoadId.c_str(), sizeof to.software_load_id - 1);
}

cmm_error_t describe(int op, uint32_t node, cmm_member_t *member)
{
    if (!member)
        return CMM_EINVAL;
    wire::CmmReply reply;
    const cmm_error_t rc = call(op, reply, node);
    if ((rc == CMM_OK || rc == CMM_EAGAIN) && !reply.members.empty())
        fill(reply.members.front(), *member);
    return rc;
}

/* ---- fork() ---------------------------------------------------------- */

void beforeFork()
{
    state().mutex.prepareFork();
}
void afterForkParent()
{
    state().mutex.parentAfterFork();
}
void afterForkChild()
{
    State &s = state();
    s.mutex.childAfterFork();
    if (s.connection) /* the parent's ZeroMQ objects: leaked */
        (void)new std::shared_ptr<Connection>(std::move(s.connection));
    /* Held only across a register or unregister, which no surviving thread
     * is in the middle of. */
    pthread_mutex_init(&s.registrationLock, nullptr);
    s.unregistering = false;
    /* A parent thread may have been inside it at fork time: leaked. */
    (void)s.unregistered.release();
    s.unregistered = std::make_unique<std::condition_variable_any>();
    /* Our own descriptors: the child's copies, closing them is harmless. */
    if (s.epollFd >= 0)
        ::close(s.epollFd);
    if (s.readyFd >= 0)
        ::close(s.readyFd);
    s.epollFd = s.readyFd = -1;
    s.readySet = false;
    s.registration.reset();
    s.pending.clear();
    s.filter = kAllKinds;
    /* Only the forking thread survives. If it forked inside a callback it
     * still holds the dispatch lock and will release it (and decrement the
     * count) when the callback returns; otherwise the lock may be held by a
     * thread that does not exist here, so it starts afresh. */
    s.callbacksRunning = inCallback ? 1 : 0;
    if (!inCallback)
        pthread_mutex_init(&s.dispatchLock, nullptr);
    s.mutex.unlock();
}

struct ForkHandlers {
    ForkHandlers()
    {
        (void)state();
        pthread_atfork(beforeFork, afterForkParent, afterForkChild);
    }
};
const ForkHandlers forkHandlers;

} // namespace

/* ======================================================================== */

extern "C" {

cmm_error_t cmm_connect(const timespec_t timeout)
{
    if (timeout.tv_sec < 0 || timeout.tv_nsec < 0 || timeout.tv_nsec >= 1000000000L)
        return CMM_EINVAL;
    State &s = state();
    std::shared_ptr<Connection> dropped; /* released after the lock */
    Lock lock(s.mutex);
    const auto previous = s.timeout.load();
    /* {0, 0} keeps the timeout in force: Sun's own re-implementation and its
     * tools pass it to mean "just connect". */
    if (timeout.tv_sec != 0 || timeout.tv_nsec != 0)
        s.timeout = clampedTimeout(timeout);
    try {
        return connectLocked(s, previous, dropped);
    } catch (const std::bad_alloc &) {
        return CMM_ENOMEM;
    } catch (const std::exception &) {
        return CMM_EOTHER;
    }
}

cmm_error_t cmm_disconnect(void)
{
    State &s = state();
    std::shared_ptr<Connection> dropped; /* released after the lock */
    Lock lock(s.mutex);
    s.registration.reset();
    s.pending.clear();
    s.filter = kAllKinds;
    ++s.generation;
    closeDescriptor(s);
    if (s.connection)
        s.connection->shutdown(); /* calls in flight return CMM_ECONN */
    dropped = std::move(s.connection);
    return CMM_OK;
}

cmm_error_t cmm_node_getid(cmm_nodeid_t *const me)
{
    if (!me)
        return CMM_EINVAL;
    wire::CmmReply reply;
    const cmm_error_t rc = call(wire::kCmmNodeGetId, reply);
    *me = rc == CMM_OK ? reply.node : CMM_INVALID_NODE_ID;
    return rc;
}

cmm_error_t cmm_member_getinfo(cmm_nodeid_t const nodeid, cmm_member_t *const member)
{
    return describe(wire::kCmmMemberGetInfo, nodeid, member);
}

cmm_error_t cmm_potential_getinfo(cmm_nodeid_t const nodeid, cmm_member_t *const member)
{
    return describe(wire::kCmmPotentialGetInfo, nodeid, member);
}

cmm_error_t cmm_master_getinfo(cmm_member_t *const member)
{
    return describe(wire::kCmmMasterGetInfo, 0, member);
}

cmm_error_t cmm_vicemaster_getinfo(cmm_member_t *const member)
{
    return describe(wire::kCmmViceMasterGetInfo, 0, member);
}

cmm_error_t cmm_member_getcount(uint32_t *const member_count)
{
    if (!member_count)
        return CMM_EINVAL;
    wire::CmmReply reply;
    const cmm_error_t rc = call(wire::kCmmGetCount, reply);
    if (rc == CMM_OK || rc == CMM_EAGAIN)
        *member_count = reply.count;
    return rc;
}

cmm_error_t cmm_member_getall(uint32_t const table_size, cmm_member_t *const member_table,
                              uint32_t *const member_count)
{
    /* Without a table the count is the only answer; with one, a caller that
     * sized it with cmm_member_getcount may leave the count out. */
    if (!member_table)
        return member_count ? cmm_member_getcount(member_count) : CMM_EINVAL;
    wire::CmmReply reply;
    const cmm_error_t rc = call(wire::kCmmGetAll, reply);
    if (rc != CMM_OK && rc != CMM_EAGAIN)
        return rc;
    const auto count = static_cast<uint32_t>(reply.members.size());
    if (member_count)
        *member_count = count;
    if (count > table_size)
        return CMM_ERANGE;
    for (uint32_t i = 0; i < count; ++i)
        fill(reply.members[i], member_table[i]);
    return rc;
}

static int flagSet(cmm_member_t const *member, uint32_t bit)
{
    return member && (member->sflag & bit) != 0 ? 1 : 0;
}

int cmm_member_isdesynchronized(cmm_member_t const *member)
{
    return flagSet(member, CMM_FLAG_SYNCHRO_NEEDED);
}
int cmm_member_isdisqualified(cmm_member_t const *member)
{
    return flagSet(member, CMM_FLAG_DISQUALIFIED);
}
int cmm_member_isqualified(cmm_member_t const *member)
{
    return member && (member->sflag & CMM_FLAG_DISQUALIFIED) == 0 ? 1 : 0;
}
int cmm_member_iseligible(cmm_member_t const *member)
{
    return flagSet(member, CMM_ELIGIBLE_MEMBER);
}
int cmm_member_isexcluded(cmm_member_t const *member)
{
    return flagSet(member, CMM_EXCLUDED_MEMBER);
}
int cmm_member_isfrozen(cmm_member_t const *member)
{
    return flagSet(member, CMM_FROZEN_MEMBER);
}
int cmm_member_ismaster(cmm_member_t const *member)
{
    return flagSet(member, CMM_MASTER);
}
int cmm_member_isvicemaster(cmm_member_t const *member)
{
    return flagSet(member, CMM_VICEMASTER);
}
int cmm_member_isoutofcluster(cmm_member_t const *member)
{
    return flagSet(member, CMM_OUT_OF_CLUSTER);
}

cmm_error_t cmm_node_eligible(void)
{
    return simple(wire::kCmmNodeEligible);
}

cmm_error_t cmm_node_ineligible(void)
{
    return simple(wire::kCmmNodeIneligible);
}

cmm_error_t cmm_mastership_release(void)
{
    return simple(wire::kCmmMastershipRelease);
}

cmm_error_t cmm_membership_remove(void)
{
    return simple(wire::kCmmMembershipRemove);
}

cmm_error_t cmm_member_setqualif(cmm_nodeid_t const nodeid, cmm_qualif_t const new_qualif)
{
    return simple(wire::kCmmSetQualif, nodeid, static_cast<int>(new_qualif));
}

cmm_error_t cmm_member_seizequalif(void)
{
    return simple(wire::kCmmSeizeQualif);
}

cmm_error_t cmm_config_reload(void)
{
    return simple(wire::kCmmConfigReload);
}

cmm_error_t cmm_cmc_register(cmm_notify_t const callback, void *client_data)
{
    if (!callback)
        return CMM_EINVAL;
    State &s = state();
    RegistrationGuard registering(s);
    std::shared_ptr<Connection> hold; /* released after the lock */
    Lock lock;
    if (!lockForCall(s, lock))
        return CMM_ETIMEDOUT;
    if (s.registration)
        return CMM_EEXIST;
    wire::CmmReply reply;
    const cmm_error_t rc = callLocked(s, lock, hold, wire::kCmmRegister, reply);
    if (rc == CMM_ETIMEDOUT) {
        /* gsd may still register us: ending the session (Quit) makes sure no
         * registration exists in gsd that this process does not know of. */
        if (s.connection == hold)
            dropConnection(s, hold);
        return rc;
    }
    if (rc != CMM_OK)
        return rc;
    if (s.connection != hold) {
        /* cmm_disconnect ended the session meanwhile, registration and all. */
        return CMM_ECONN;
    }
    if (const cmm_error_t fd = openDescriptor(s); fd != CMM_OK) {
        (void)callLocked(s, lock, hold, wire::kCmmUnregister, reply);
        return fd;
    }
    /* Delivery starts with the changes after gsd registered us: exactly the
     * notes the connection holds now (see collect). */
    s.pending.clear();
    s.registration = Registration{callback, client_data, false};
    collect(s);
    return CMM_OK;
}

cmm_error_t cmm_cmc_unregister(void)
{
    State &s = state();
    RegistrationGuard unregistering(s);
    std::shared_ptr<Connection> hold; /* released after the lock */
    Lock lock;
    if (!lockForCall(s, lock))
        return CMM_ETIMEDOUT;
    if (!s.registration)
        return CMM_OK; /* nothing to stop: cleanup paths call it blindly */
    if (s.callbacksRunning > 0 || inCallback)
        return CMM_EBUSY;
    collect(s);
    if (!s.registration->broken) {
        const uint64_t generation = s.generation;
        wire::CmmReply reply;
        s.unregistering = true;
        const cmm_error_t rc = callLocked(s, lock, hold, wire::kCmmUnregister, reply);
        s.unregistering = false;
        s.unregistered->notify_all();
        if (s.generation != generation)
            return CMM_OK; /* cmm_disconnect ended the registration meanwhile */
        if (rc != CMM_OK && rc != CMM_ECONN && rc != CMM_ENOENT) {
            collect(s);
            return rc;
        }
    }
    s.registration.reset();
    s.pending.clear();
    collect(s);
    return CMM_OK;
}

cmm_error_t cmm_cmc_filter(cmm_cmcfilter_t const action,
                           cmm_cmchanges_t const *const notifications_list,
                           uint32_t const notifications_count)
{
    uint32_t listed = 0;
    switch (action) {
    case CMM_CMC_NOTIFY_ALL:
    case CMM_CMC_NOTIFY_NONE:
        break;
    case CMM_CMC_NOTIFY_ADD:
    case CMM_CMC_NOTIFY_REM:
    case CMM_CMC_NOTIFY_SET:
        /* An empty list is an empty set (Sun's re-implementation loops over
         * it); repeats make any count meaningful. */
        if (!notifications_list && notifications_count > 0)
            return CMM_EINVAL;
        for (uint32_t i = 0; i < notifications_count; ++i) {
            const int kind = static_cast<int>(notifications_list[i]);
            if (!knownKind(kind))
                return CMM_EINVAL;
            listed |= bitOf(kind);
        }
        break;
    default:
        return CMM_EINVAL;
    }
    std::atomic<uint32_t> &filter = state().filter;
    switch (action) {
    case CMM_CMC_NOTIFY_ALL:
        filter = kAllKinds;
        break;
    case CMM_CMC_NOTIFY_NONE:
        filter = 0;
        break;
    case CMM_CMC_NOTIFY_ADD:
        filter |= listed;
        break;
    case CMM_CMC_NOTIFY_REM:
        filter &= ~listed;
        break;
    case CMM_CMC_NOTIFY_SET:
        filter = listed;
        break;
    }
    return CMM_OK;
}

cmm_error_t cmm_notify_getfd(int *const fd)
{
    if (!fd)
        return CMM_EINVAL;
    State &s = state();
    Lock lock(s.mutex);
    if (s.registration) {
        collect(s);
        if (s.registration->broken)
            return CMM_EBADF;
    } else if (openDescriptor(s) != CMM_OK) {
        /* Sun's implementation gives the descriptor before registration
         * too: it is the one the registration will use, readable only once
         * a registration has notifications to dispatch. */
        return CMM_ENOMEM;
    }
    *fd = s.epollFd;
    return CMM_OK;
}

cmm_error_t cmm_notify_dispatch(void)
{
    if (inCallback)
        return CMM_EBUSY;
    State &s = state();
    pthread_mutex_lock(&s.dispatchLock);
    cmm_error_t result = CMM_OK;
    {
        Lock lock(s.mutex);
        if (!s.registration) {
            result = CMM_ENOENT;
        } else {
            const uint64_t generation = s.generation;
            collect(s);
            for (;;) {
                if (!s.registration || s.generation != generation) {
                    result = CMM_ENOENT;
                    break;
                }
                /* No callback may start once unregistering has begun: wait
                 * for its end (bounded by its timeout), then look again (if
                 * it failed, the registration and its notes are still
                 * there). */
                if (s.unregistering) {
                    s.unregistered->wait(lock);
                    continue;
                }
                if (s.pending.empty()) {
                    collect(s);
                    if (s.pending.empty()) {
                        result = s.registration->broken ? CMM_EBADF : CMM_OK;
                        break;
                    }
                }
                const wire::CmmNote note = s.pending.front();
                s.pending.pop_front();
                if (!knownKind(note.change) || (s.filter & bitOf(note.change)) == 0)
                    continue;
                const cmm_notify_t callback = s.registration->callback;
                void *const data = s.registration->data;
                const cmm_cmc_notification_t delivered{static_cast<cmm_cmchanges_t>(note.change),
                                                       note.node};
                ++s.callbacksRunning;
                lock.unlock();
                inCallback = true;
                callback(&delivered, data);
                inCallback = false;
                lock.lock();
                --s.callbacksRunning;
            }
            collect(s);
        }
    }
    pthread_mutex_unlock(&s.dispatchLock);
    return result;
}

char *cmm_strerror(cmm_error_t errnum)
{
    const char *text = "unknown CMM error code";
    switch (errnum) {
    case CMM_OK:
        text = "success";
        break;
    case CMM_EBADF:
        text = "notification descriptor broken: unregister and register again";
        break;
    case CMM_EBUSY:
        text = "gsd is out of resources, or a notification callback is running";
        break;
    case CMM_ECANCELED:
        text = "operation canceled: no node can take the master role";
        break;
    case CMM_EEXIST:
        text = "a notification callback is already registered";
        break;
    case CMM_EINVAL:
        text = "invalid argument";
        break;
    case CMM_ENOENT:
        text = "no registration, or the registration limit of gsd is reached";
        break;
    case CMM_ENOMSG:
        text = "no message";
        break;
    case CMM_ENOTSUP:
        text = "unexpected service error";
        break;
    case CMM_EPERM:
        text = "operation not permitted on this node";
        break;
    case CMM_ERANGE:
        text = "member table too small";
        break;
    case CMM_ESRCH:
        text = "no such node";
        break;
    case CMM_ENOCLUSTER:
        text = "no master, or the node is in no cluster";
        break;
    case CMM_ECONN:
        text = "no gsd is accessible on the local node";
        break;
    case CMM_ETIMEDOUT:
        text = "the call timed out";
        break;
    case CMM_EAGAIN:
        text = "data returned, but the local view may be stale";
        break;
    case CMM_ENOMEM:
        text = "out of memory";
        break;
    case CMM_EOTHER:
        text = "internal error of the library";
        break;
    }
    return const_cast<char *>(text);
}

} // extern "C"
