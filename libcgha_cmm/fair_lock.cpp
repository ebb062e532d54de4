/* SPDX-License-Identifier: MIT */
#include "libcgha_cmm/fair_lock.hpp"

#include <cerrno>
#include <ctime>

namespace gs::cmmlib {
namespace {

timespec deadlineAfter(std::chrono::nanoseconds timeout)
{
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const auto total = std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec) +
                       (timeout.count() > 0 ? timeout : std::chrono::nanoseconds(0));
    const auto seconds = std::chrono::floor<std::chrono::seconds>(total);
    timespec deadline{};
    deadline.tv_sec = static_cast<time_t>(seconds.count());
    deadline.tv_nsec = static_cast<long>((total - seconds).count());
    return deadline;
}

} // namespace

FairLock::FairLock()
{
    initPrimitives();
}

FairLock::~FairLock()
{
    pthread_cond_destroy(&granted_);
    pthread_mutex_destroy(&mutex_);
}

void FairLock::initPrimitives()
{
    pthread_mutex_init(&mutex_, nullptr);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Timeouts follow the monotonic clock, like the library's deadlines. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&granted_, &attr);
    pthread_condattr_destroy(&attr);
}

void FairLock::lock()
{
    acquire(nullptr);
}

bool FairLock::try_lock()
{
    pthread_mutex_lock(&mutex_);
    const bool free = !held_ && head_ == nullptr;
    if (free)
        held_ = true;
    pthread_mutex_unlock(&mutex_);
    return free;
}

bool FairLock::acquire(const std::chrono::nanoseconds *timeout)
{
    pthread_mutex_lock(&mutex_);
    if (!held_ && head_ == nullptr) {
        held_ = true;
        pthread_mutex_unlock(&mutex_);
        return true;
    }
    Waiter self;
    if (tail_)
        tail_->next = &self;
    else
        head_ = &self;
    tail_ = &self;
    const timespec deadline = timeout ? deadlineAfter(*timeout) : timespec{};
    while (!self.granted) {
        if (!timeout) {
            pthread_cond_wait(&granted_, &mutex_);
        } else if (pthread_cond_timedwait(&granted_, &mutex_, &deadline) == ETIMEDOUT &&
                   !self.granted) {
            removeWaiter(&self);
            pthread_mutex_unlock(&mutex_);
            return false;
        }
    }
    /* unlock() handed the lock over: held_ stayed true. */
    pthread_mutex_unlock(&mutex_);
    return true;
}

void FairLock::removeWaiter(Waiter *waiter)
{
    Waiter *previous = nullptr;
    for (Waiter *w = head_; w; previous = w, w = w->next) {
        if (w != waiter)
            continue;
        (previous ? previous->next : head_) = w->next;
        if (tail_ == w)
            tail_ = previous;
        return;
    }
}

void FairLock::unlock()
{
    pthread_mutex_lock(&mutex_);
    if (Waiter *next = head_) {
        head_ = next->next;
        if (!head_)
            tail_ = nullptr;
        next->granted = true; /* held_ stays true: the lock changes hands */
        pthread_cond_broadcast(&granted_);
    } else {
        held_ = false;
    }
    pthread_mutex_unlock(&mutex_);
}

void FairLock::prepareFork()
{
    lock();
    pthread_mutex_lock(&mutex_);
}

void FairLock::parentAfterFork()
{
    pthread_mutex_unlock(&mutex_);
    unlock();
}

void FairLock::childAfterFork()
{
    /* The waiters' threads (and their stack frames) do not exist here; the
     * internal mutex is ours (prepareFork), the condition variable may
     * still count the parent's waiters: both start afresh. */
    pthread_mutex_unlock(&mutex_);
    initPrimitives();
    head_ = tail_ = nullptr;
    held_ = true; /* by the forking thread, which releases it with unlock() */
}

} // namespace gs::cmmlib
