/* SPDX-License-Identifier: MIT */
/* Overloaded{lambdas...}: one visitor for std::visit from several lambdas. */
#pragma once

namespace gs {

template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

} // namespace gs
