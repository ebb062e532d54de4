/* SPDX-License-Identifier: MIT */
/* Why the broker cannot start: what gsd's main turns into its exit status
 * and message. */
#pragma once

#include <stdexcept>
#include <string>

namespace gs {

class BrokerError : public std::runtime_error {
  public:
    enum class Kind {
        Config, /* a setting gsd cannot work with */
        InUse,  /* another gsd serves the endpoint */
        System, /* the operating system refused a resource */
    };
    BrokerError(Kind kind, const std::string &what) : std::runtime_error(what), kind_(kind) {}
    Kind kind() const { return kind_; }

  private:
    Kind kind_;
};

} // namespace gs
