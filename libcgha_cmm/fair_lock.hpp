/* SPDX-License-Identifier: MIT */
/*
 * FairLock: a mutex granted in the order threads asked for it.
 *
 * std::mutex and std::timed_mutex promise no order, and in practice a thread
 * that unlocks and locks again at once (a loop of library calls) re-takes
 * the lock before a woken waiter runs: two such threads starved a thread
 * polling and dispatching notifications for seconds. Here unlock() hands the
 * lock to the oldest waiter, so a waiter waits at most for the holders queued
 * before it. A waiter whose timeout expires leaves the queue.
 *
 * Built on pthread primitives so that the fork handlers can hold it across
 * fork() and rebuild it in the child (whose other threads are gone).
 * Meets the TimedLockable requirements (std::unique_lock works).
 */
#pragma once

#include <chrono>
#include <pthread.h>

namespace gs::cmmlib {

class FairLock {
  public:
    FairLock();
    ~FairLock();
    FairLock(const FairLock &) = delete;
    FairLock &operator=(const FairLock &) = delete;

    void lock();
    bool try_lock();
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period> &timeout)
    {
        return lockWithin(std::chrono::ceil<std::chrono::nanoseconds>(timeout));
    }
    void unlock();

    /* pthread_atfork: the forking thread takes the lock and the internal
     * mutex; the parent releases both; the child rebuilds the internal
     * state, forgetting the waiters (threads that do not exist there), and
     * keeps the lock held by the forking thread. */
    void prepareFork();
    void parentAfterFork();
    void childAfterFork();

  private:
    struct Waiter {
        Waiter *next = nullptr;
        bool granted = false;
    };

    /* Waits for the lock, at most `timeout` when it has a value. */
    bool acquire(const std::chrono::nanoseconds *timeout);
    bool lockWithin(std::chrono::nanoseconds timeout) { return acquire(&timeout); }
    void initPrimitives();
    void removeWaiter(Waiter *waiter);

    pthread_mutex_t mutex_;
    pthread_cond_t granted_;
    bool held_ = false;
    Waiter *head_ = nullptr; /* oldest waiter */
    Waiter *tail_ = nullptr;
};

} // namespace gs::cmmlib
