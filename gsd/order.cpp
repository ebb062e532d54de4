/* SPDX-License-Identifier: MIT */
#include "gsd/order.hpp"

namespace gs {

void LocalOrder::submit(Input input)
{
    if (delivering_) {
        queue_.push_back(std::move(input));
        return;
    }
    delivering_ = true;
    try {
        /* The common case, nothing waiting: delivered without a copy. */
        deliver(input);
        while (!queue_.empty()) {
            const Input next = std::move(queue_.front());
            queue_.pop_front();
            deliver(next);
        }
    } catch (...) {
        /* What the failed delivery caused is dropped with it, as the loop
         * that called submit reports the failure. */
        delivering_ = false;
        queue_.clear();
        throw;
    }
    delivering_ = false;
}

} // namespace gs
