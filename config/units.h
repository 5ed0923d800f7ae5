// Parsers for the scalar forms pools.yaml is written in: durations, byte sizes,
// percentages, file modes and host:port addresses, plus their canonical
// spellings. Pure functions; the error is a sentence for a person, in the form
// `expected <what>, got "<text>"`. Used by the trusted process.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace sv::config {

// "250us", "500ms", "2s", "1m", "1h" (also "ns"): a whole number directly
// followed by one unit; no sign, space or fraction. "0" alone is zero; any other
// number without a unit is an error, as is a duration beyond 2562047h.
[[nodiscard]] std::expected<std::chrono::nanoseconds, std::string> ParseDuration(std::string_view text);

// "4096" (bytes), "512KiB", "1MiB", "2GB": a whole number and an optional unit,
// B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
// Units are case-sensitive ("1mb" is an error). Sizes from 2^64 bytes on are errors.
[[nodiscard]] std::expected<std::uint64_t, std::string> ParseSize(std::string_view text);

// "10%" or "10": a whole percentage from 0 to 100.
[[nodiscard]] std::expected<std::uint32_t, std::string> ParsePercent(std::string_view text);

// A decimal number of digits only ("007" is 7), at most 2^64-1.
[[nodiscard]] std::expected<std::uint64_t, std::string> ParseUnsigned(std::string_view text);

// A file mode read as octal, as chmod reads it: "0600", "600" and "0o600" are
// all 0600. At most 0777 (no setuid, setgid or sticky bits).
[[nodiscard]] std::expected<std::uint32_t, std::string> ParseFileMode(std::string_view text);

// Where a TCP server listens. `host` is a name or an address, IPv6 without the
// brackets it was written in.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;

  // "127.0.0.1:9100", "[::1]:9100".
  std::string ToString() const;
  bool operator==(const ListenAddress&) const = default;
};

// "127.0.0.1:9100", "localhost:9100", "[::1]:9100": a non-empty host and a port
// from 1 to 65535.
[[nodiscard]] std::expected<ListenAddress, std::string> ParseListenAddress(std::string_view text);

// The spelling ParseDuration reads back, in the largest unit that divides `d`
// exactly: 1500ms -> "1500ms", 120s -> "2m", 0 -> "0s". Precondition: d >= 0.
std::string FormatDuration(std::chrono::nanoseconds d);

// The spelling ParseSize reads back, in the largest unit that divides `bytes`
// exactly: 4096 -> "4KiB", 2000000000 -> "2GB", 4097 -> "4097B".
std::string FormatSize(std::uint64_t bytes);

}  // namespace sv::config
