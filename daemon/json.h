// JSON for the control API (nlohmann/json, keys in insertion order): status
// bodies out, request bodies in. Used by the daemon.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor/supervisor.h"

namespace sv::daemon {

using JsonValue = nlohmann::ordered_json;

// One line of JSON; bytes that are not valid UTF-8 (worker output, names)
// become U+FFFD rather than an error.
std::string Stringify(const JsonValue& value);

JsonValue PoolJson(const supervisor::PoolStatus& pool);
JsonValue StopReportJson(const supervisor::StopReport& report);

// A request body: empty is {}; anything but a JSON object is an error message.
std::expected<JsonValue, std::string> ParseObject(std::string_view body);
// An optional non-negative integer member no larger than `max`: nullopt when
// absent, an error message when of another type or out of range.
std::expected<std::optional<std::int64_t>, std::string> IntMember(const JsonValue& object, const std::string& key,
                                                                   std::int64_t max);
std::expected<std::optional<std::string>, std::string> StringMember(const JsonValue& object, const std::string& key);

}  // namespace sv::daemon
