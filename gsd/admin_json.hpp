/* SPDX-License-Identifier: MIT */
/* The pieces gsctl's documents and events share (gsd/admin.cpp,
 * gsd/observer.cpp): a provider, bytes, a time. */
#pragma once

#include "engine/observation.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <sys/types.h>
#include <vector>

namespace gs::admin {

/* {"instance", "node", "client", "pid"}: pid null when another node serves
 * the client (only its node knows it). */
nlohmann::json providerJson(const ObservedProvider &provider, std::optional<pid_t> pid);
/* {"bytes": n, "text": the bytes when all are printable ASCII else null,
 * "hex": the bytes in hex}. */
nlohmann::json bytesJson(const Bytes &bytes);
/* The document as JSON text. Bytes that are not UTF-8 (a provider's local
 * name is any bytes) become U+FFFD instead of failing the answer. */
std::string text(const nlohmann::json &document);
/* The current UTC time as "2026-12-07T19:20:00.123Z". */
std::string timestamp();

} // namespace gs::admin
