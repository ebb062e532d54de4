/* SPDX-License-Identifier: MIT */
/* Where gsd listens and libha_gs connects (contract §1). */
#pragma once

#include <optional>
#include <string>

namespace gs {

/* HA_GS_SOCKET if set and non-empty, else the per-user default:
 * ipc:///run/ha_gs/gsd.sock for root, ipc://$XDG_RUNTIME_DIR/ha_gs/gsd.sock,
 * or ipc:///tmp/ha_gs-<uid>/gsd.sock. */
std::string resolveEndpoint();

/* The per-user default, ignoring HA_GS_SOCKET. */
std::string defaultEndpoint();

/* The filesystem path of an ipc:// endpoint; nullopt for any other transport
 * or an empty/relative-less malformed path. */
std::optional<std::string> ipcPath(const std::string &endpoint);

} // namespace gs
