/* SPDX-License-Identifier: MIT */
#include "common/endpoint.hpp"

#include <cstdlib>
#include <unistd.h>

namespace gs {

std::string defaultEndpoint()
{
    const uid_t uid = geteuid();
    if (uid == 0)
        return "ipc:///run/ha_gs/gsd.sock";
    if (const char *runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && runtime[0] == '/')
        return std::string("ipc://") + runtime + "/ha_gs/gsd.sock";
    return "ipc:///tmp/ha_gs-" + std::to_string(uid) + "/gsd.sock";
}

std::string resolveEndpoint()
{
    if (const char *env = std::getenv("HA_GS_SOCKET"); env && env[0] != '\0')
        return env;
    return defaultEndpoint();
}

std::optional<std::string> ipcPath(const std::string &endpoint)
{
    static const std::string prefix = "ipc://";
    if (endpoint.compare(0, prefix.size(), prefix) != 0)
        return std::nullopt;
    std::string path = endpoint.substr(prefix.size());
    /* Abstract sockets (@name) have no file; everything else must be a path. */
    if (path.empty() || path.find('\0') != std::string::npos)
        return std::nullopt;
    return path;
}

} // namespace gs
