// JSON for the control API (Poco::JSON): status bodies out, request bodies in.
// Used by the daemon.
#pragma once

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor/supervisor.h"

namespace sv::daemon {

// A new object that keeps keys in insertion order.
Poco::JSON::Object::Ptr NewObject();
std::string Stringify(const Poco::JSON::Object::Ptr& object);

Poco::JSON::Object::Ptr PoolJson(const supervisor::PoolStatus& pool);
Poco::JSON::Object::Ptr StopReportJson(const supervisor::StopReport& report);

// A request body: empty is {}; anything but a JSON object is an error message.
std::expected<Poco::JSON::Object::Ptr, std::string> ParseObject(std::string_view body);
// An optional non-negative integer member no larger than `max`: nullopt when
// absent, an error message when of another type or out of range.
std::expected<std::optional<std::int64_t>, std::string> IntMember(const Poco::JSON::Object::Ptr& object,
                                                                   const std::string& key, std::int64_t max);
std::expected<std::optional<std::string>, std::string> StringMember(const Poco::JSON::Object::Ptr& object,
                                                                    const std::string& key);

}  // namespace sv::daemon
