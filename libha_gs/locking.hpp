/* SPDX-License-Identifier: MIT */
/*
 * Lock types of the two library builds. libha_gs_r (HA_GS_THREAD_SAFE=1) uses
 * real mutexes and condition variables; libha_gs uses types that do nothing,
 * so both libraries share one code path (like libzmq's scoped_optional_lock_t)
 * and the plain one pays nothing for thread safety it does not promise.
 */
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#ifndef HA_GS_THREAD_SAFE
#define HA_GS_THREAD_SAFE 0
#endif

namespace gs::client {

inline constexpr bool kThreadSafe = HA_GS_THREAD_SAFE != 0;

/* BasicLockable that does nothing: one thread owns everything. */
struct NullMutex {
    void lock() {}
    void unlock() {}
    bool try_lock() { return true; }
};

/* In the plain build no second thread exists that could change anything a
 * waiter waits for, so the session never waits on it; waiting returns at once
 * to keep a stray call from hanging. */
struct NullCondVar {
    template <class Lock>
    void wait(Lock &)
    {
    }
    template <class Lock, class TimePoint>
    void wait_until(Lock &, const TimePoint &)
    {
    }
    void notify_all() {}
    void notify_one() {}
};

#if HA_GS_THREAD_SAFE
using Mutex = std::mutex;
using CondVar = std::condition_variable;
#else
using Mutex = NullMutex;
using CondVar = NullCondVar;
#endif

using Lock = std::unique_lock<Mutex>;

} // namespace gs::client
