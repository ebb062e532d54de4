/* SPDX-License-Identifier: MIT */
#include "libha_gs/fork_generation.hpp"

#include <atomic>
#include <pthread.h>

namespace gs::client {

namespace {

std::atomic<unsigned> generation{0};

void onForkChild()
{
    generation.fetch_add(1, std::memory_order_relaxed);
}

[[maybe_unused]] const int countsForks = pthread_atfork(nullptr, nullptr, onForkChild);

} // namespace

unsigned forkGeneration()
{
    return generation.load(std::memory_order_relaxed);
}

} // namespace gs::client
