/* SPDX-License-Identifier: MIT */
#include "libha_gs/adapter.hpp"

#include <ifaddrs.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>

namespace gs::client {

std::optional<std::string> interfaceForAddress(const in_addr &address)
{
    ifaddrs *list = nullptr;
    if (getifaddrs(&list) != 0)
        return std::nullopt;
    const std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> owner(list, &freeifaddrs);
    for (const ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_name)
            continue;
        /* sockaddr_in may be more strictly aligned than sockaddr; copy, do
         * not cast. */
        sockaddr_in in{};
        std::memcpy(&in, i->ifa_addr, sizeof(in));
        if (in.sin_addr.s_addr == address.s_addr)
            return std::string(i->ifa_name);
    }
    return std::nullopt;
}

} // namespace gs::client
