// The zlib plugin: `compress` deflates its input into a zlib stream (RFC 1950),
// `decompress` inflates a zlib or gzip stream, both straight into the shared
// response area. plugin_config: `level` (0-9, default 6) for compress. Runs in
// sv-worker. Plugin error codes are below; output beyond the response capacity
// ends as PayloadTooLarge.
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "sv/plugin.hpp"

namespace {

using sv::plugin::Output;
using sv::plugin::Status;

// The plugin's error codes: 1 for a bad plugin_config, and 1000 minus zlib's
// return code for zlib failures, clear of the negative SV_ERR_* values:
// Z_DATA_ERROR (corrupt input) is 1003, Z_BUF_ERROR (truncated input) 1005,
// Z_NEED_DICT 998. Z_MEM_ERROR is reported as SV_ERR_OUT_OF_MEMORY.
constexpr std::int32_t kBadConfig = 1;

std::int32_t PluginCode(int zlib_rc) { return 1000 - zlib_rc; }

std::string ZlibName(int rc) {
  switch (rc) {
    case Z_NEED_DICT: return "Z_NEED_DICT";
    case Z_STREAM_ERROR: return "Z_STREAM_ERROR";
    case Z_DATA_ERROR: return "Z_DATA_ERROR";
    case Z_MEM_ERROR: return "Z_MEM_ERROR";
    case Z_BUF_ERROR: return "Z_BUF_ERROR";
    case Z_VERSION_ERROR: return "Z_VERSION_ERROR";
    default: return "zlib error " + std::to_string(rc);
  }
}

Status ZlibError(std::string_view method, int rc, const char* detail) {
  std::string message = std::string(method) + ": " + (detail != nullptr ? detail : zError(rc));
  message += " (" + ZlibName(rc) + ")";
  // sv-worker reports SV_ERR_OUT_OF_MEMORY as a resource limit, not a plugin error.
  if (rc == Z_MEM_ERROR) return Status::Error(SV_ERR_OUT_OF_MEMORY, message);
  return Status::Error(PluginCode(rc), message);
}

// A z_stream that ends itself: deflating (compress) or inflating (decompress).
class Stream {
 public:
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (kind_ == Kind::kDeflate) deflateEnd(&zs_);
    if (kind_ == Kind::kInflate) inflateEnd(&zs_);
  }

  // Each returns zlib's code; call one of them once, before Step().
  int StartDeflate(int level) { return Started(deflateInit(&zs_, level), Kind::kDeflate); }
  // 15 + 32: a 32 KiB window, and zlib or gzip detected from the header.
  int StartInflate() { return Started(inflateInit2(&zs_, 15 + 32), Kind::kInflate); }

  // One deflate/inflate with Z_FINISH over what avail_in/avail_out say.
  int Step() { return kind_ == Kind::kDeflate ? deflate(&zs_, Z_FINISH) : inflate(&zs_, Z_FINISH); }
  z_stream& z() { return zs_; }

 private:
  enum class Kind { kNone, kDeflate, kInflate };
  int Started(int rc, Kind kind) {
    if (rc == Z_OK) kind_ = kind;
    return rc;
  }
  Kind kind_ = Kind::kNone;
  z_stream zs_{};
};

// One Z_FINISH step over at most in_left input bytes at next_in and out_left
// output bytes at next_out; subtracts what it used from both. zlib counts in
// uInt, so longer buffers go in pieces.
int Step(Stream& stream, std::size_t& in_left, std::size_t& out_left) {
  constexpr std::size_t kMaxPiece = std::numeric_limits<uInt>::max();
  z_stream& zs = stream.z();
  zs.avail_in = static_cast<uInt>(std::min(in_left, kMaxPiece));
  zs.avail_out = static_cast<uInt>(std::min(out_left, kMaxPiece));
  uInt in_piece = zs.avail_in;
  uInt out_piece = zs.avail_out;
  int rc = stream.Step();
  in_left -= in_piece - zs.avail_in;
  out_left -= out_piece - zs.avail_out;
  return rc;
}

Status Finish(std::string_view method, std::size_t in_left, Output& out, std::size_t used) {
  if (in_left != 0) return ZlibError(method, Z_DATA_ERROR, "trailing bytes after the end of the stream");
  out.Advance(used);
  return Status::Ok();
}

// Runs `stream` over all of `input` into the output's free area, in place.
// Output that does not fit ends as PayloadTooLarge: advancing past the room
// marks the response too large in sv-worker.
Status Run(Stream& stream, std::string_view input, Output& out, std::string_view method) {
  std::size_t room = 0;
  z_stream& zs = stream.z();
  zs.next_out = reinterpret_cast<Bytef*>(out.Tail(&room));
  // zlib never writes through next_in; its type predates const.
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  std::size_t in_left = input.size();
  std::size_t out_left = room;
  Bytef scratch[1];
  bool probing = false;
  for (;;) {
    int rc = Step(stream, in_left, out_left);
    if (probing && out_left == 0) {
      (void)out.Advance(room + 1);
      return Status::Error(SV_ERR_TOO_LARGE, std::string(method) + ": output exceeds the response capacity");
    }
    if (rc == Z_STREAM_END) return Finish(method, in_left, out, probing ? room : room - out_left);
    if (rc != Z_OK && rc != Z_BUF_ERROR) return ZlibError(method, rc, zs.msg);
    if (out_left == 0) {
      // The area is full but the stream goes on: one more byte, into scratch,
      // tells output that does not fit from input that is corrupt or truncated.
      probing = true;
      zs.next_out = scratch;
      out_left = sizeof scratch;
    } else if (in_left == 0 && rc == Z_BUF_ERROR) {
      return ZlibError(method, Z_BUF_ERROR, "truncated input");
    }
  }
}

Status Compress(int level, std::string_view input, Output& out) {
  Stream stream;
  if (int rc = stream.StartDeflate(level); rc != Z_OK) return ZlibError("compress", rc, nullptr);
  return Run(stream, input, out, "compress");
}

Status Decompress(std::string_view input, Output& out) {
  Stream stream;
  if (int rc = stream.StartInflate(); rc != Z_OK) return ZlibError("decompress", rc, nullptr);
  return Run(stream, input, out, "decompress");
}

// Reads `level` from plugin_config into *level; an error names the bad value.
Status ParseLevel(const sv::plugin::Config& config, int* level) {
  if (!config.Has("level")) return Status::Ok();
  std::string text = config.Get("level");
  int value = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 9) {
    return Status::Error(kBadConfig, "plugin_config level: expected an integer from 0 to 9, got \"" + text + "\"");
  }
  *level = value;
  return Status::Ok();
}

}  // namespace

SV_PLUGIN("zlib", [](const sv::plugin::Config& config, sv::plugin::Registry& methods) {
  int level = Z_DEFAULT_COMPRESSION;
  if (Status s = ParseLevel(config, &level); !s.ok()) return s;
  methods.Method("compress", [level](const sv::plugin::Call& call, Output& out) {
    return Compress(level, call.input, out);
  });
  methods.Method("decompress", [](const sv::plugin::Call& call, Output& out) {
    return Decompress(call.input, out);
  });
  return Status::Ok();
});
