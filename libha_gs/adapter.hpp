/* SPDX-License-Identifier: MIT */
/* ha_gs_get_adapter_info: which local interface carries an IPv4 address. */
#pragma once

#include <netinet/in.h>

#include <optional>
#include <string>

namespace gs::client {

/* The name of the interface (e.g. "lo") that has `address`, or nullopt when
 * no local interface has it. */
std::optional<std::string> interfaceForAddress(const in_addr &address);

} // namespace gs::client
