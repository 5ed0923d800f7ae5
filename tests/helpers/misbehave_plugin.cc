// A plugin that misbehaves on request, for the tests of sv-worker and the
// channel: hangs, crashes, exhausts memory, forges responses, tampers with the
// read-only region, floods stdout, writes to stderr. Also reports what its sandbox looks like.
// Runs in sv-worker; each method name says what it does.
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ipc/layout.h"
#include "sv/plugin.hpp"

namespace {

using sv::plugin::Call;
using sv::plugin::Output;
using sv::plugin::Status;

[[noreturn]] void SleepForever() {
  std::atomic<std::uint32_t> word{0};
  for (;;) syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
}

[[noreturn]] void SpinForever() {
  for (;;) asm volatile("" ::: "memory");
}

std::string ErrnoName(int err) {
  switch (err) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EBUSY: return "EBUSY";
    default: return "errno" + std::to_string(err);
  }
}

// Maps a channel region writable if the kernel allows it, else read-only.
void* MapRegion(int fd, int prot) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return nullptr;
  void* p = mmap(nullptr, static_cast<std::size_t>(st.st_size), prot, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Writes a response of its own making straight into shared memory, rings the
// doorbell, wakes the caller, then hangs so the real reply never overwrites it.
[[noreturn]] void Forge(const Call& call, std::uint64_t call_id, std::uint32_t output_size) {
  auto* base = static_cast<std::byte*>(MapRegion(sv::ipc::kResponseFd, PROT_READ | PROT_WRITE));
  if (base == nullptr) std::abort();
  auto* slot = reinterpret_cast<sv::ipc::ResponseSlot*>(base + sv::ipc::kSlotOffset);
  slot->call_id.store(call_id);
  slot->status.store(static_cast<std::uint32_t>(sv::ipc::ResponseStatus::kOk));
  slot->output_size.store(output_size);
  slot->doorbell.store(static_cast<std::uint32_t>(call.info->call_id));
  syscall(SYS_futex, &slot->doorbell, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  SleepForever();
}

// Tries every way to write the read-only request region or to resize either
// region; reports each outcome ("ftruncate_request=EPERM ...").
std::string Tamper() {
  std::string report;
  auto note = [&](const char* what, bool ok) {
    report += std::string(what) + "=" + (ok ? "OK" : ErrnoName(errno)) + " ";
  };
  note("ftruncate_request", ftruncate(sv::ipc::kRequestFd, 0) == 0);
  note("ftruncate_response", ftruncate(sv::ipc::kResponseFd, 1) == 0);
  note("mmap_write_request", MapRegion(sv::ipc::kRequestFd, PROT_READ | PROT_WRITE) != nullptr);
  void* ro = MapRegion(sv::ipc::kRequestFd, PROT_READ);
  note("mprotect_write_request", ro != nullptr && mprotect(ro, 4096, PROT_READ | PROT_WRITE) == 0);
  char byte = 0;
  note("pwrite_request", pwrite(sv::ipc::kRequestFd, &byte, 1, 0) == 1);
  int rw = open(("/proc/self/fd/" + std::to_string(sv::ipc::kRequestFd)).c_str(), O_RDWR);
  note("reopen_write_request", rw >= 0 && MapRegion(rw, PROT_READ | PROT_WRITE) != nullptr);
  return report;
}

std::string OpenFds() {
  std::string fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return "opendir failed";
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == dirfd(dir)) continue;
    struct stat st {};
    // Past stdio (which the supervisor may well pass as sockets).
    const int fd = std::atoi(e->d_name);
    const bool socket = fd > 2 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    fds += std::string(e->d_name) + (socket ? "s " : " ");
  }
  closedir(dir);
  return fds;
}

// Opened as the plugin loads: in a zygote, before any worker is forked from
// it. A forked worker must still have it, as an exec'd one does.
const int g_load_time_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

std::string LoadTimeFd() {
  struct stat fd_stat {}, null_stat {};
  if (fstat(g_load_time_fd, &fd_stat) != 0 || stat("/dev/null", &null_stat) != 0) return std::strerror(errno);
  const bool same = S_ISCHR(fd_stat.st_mode) && fd_stat.st_rdev == null_stat.st_rdev;
  return same ? "ok" : "fd " + std::to_string(g_load_time_fd) + " is no longer /dev/null";
}

std::string Sandbox() {
  auto limit = [](int resource) {
    rlimit r{};
    getrlimit(resource, &r);
    return r.rlim_cur == RLIM_INFINITY ? std::string("inf") : std::to_string(r.rlim_cur);
  };
  const char* tmp = std::getenv("TMPDIR");
  struct stat st {};
  std::string tmp_mode = tmp != nullptr && stat(tmp, &st) == 0 ? std::to_string(st.st_mode & 0777) : "none";
  return "as=" + limit(RLIMIT_AS) + " cpu=" + limit(RLIMIT_CPU) + " nofile=" + limit(RLIMIT_NOFILE) +
         " core=" + limit(RLIMIT_CORE) + " pgid_is_pid=" + (getpgid(0) == getpid() ? "1" : "0") +
         " tmpdir=" + (tmp != nullptr ? tmp : "") + " tmpdir_mode=" + tmp_mode +
         " channel_cloexec=" + (fcntl(sv::ipc::kRequestFd, F_GETFD) == FD_CLOEXEC ? "1" : "0") +
         (fcntl(sv::ipc::kResponseFd, F_GETFD) == FD_CLOEXEC ? "1" : "0") + " fds=" + OpenFds();
}

Status Flood(const Call& call) {
  const long mib = std::atol(std::string(call.input).c_str());
  std::string line(1023, 'x');
  line += '\n';
  for (long i = 0; i < mib * 1024; ++i) {
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) break;
  }
  std::fflush(stdout);
  return Status::Ok();
}

Status Allocate() {
  // Until the address-space limit: new throws std::bad_alloc, which the SDK
  // reports as SV_ERR_OUT_OF_MEMORY (the caller sees ResourceLimit).
  std::vector<std::unique_ptr<char[]>> chunks;
  for (;;) {
    chunks.emplace_back(new char[1 << 20]);
    std::memset(chunks.back().get(), 1, 1 << 20);
  }
}

std::string ReadLine(int fd) {
  std::string line;
  char c = 0;
  while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

// Rings the caller's doorbell with every value but the one it waits for.
[[noreturn]] void BumpDoorbell(const Call& call) {
  auto* base = static_cast<std::byte*>(MapRegion(sv::ipc::kResponseFd, PROT_READ | PROT_WRITE));
  auto* bell = reinterpret_cast<std::atomic<std::uint32_t>*>(base + sv::ipc::kSlotOffset);
  const auto answer = static_cast<std::uint32_t>(call.info->call_id);
  for (std::uint32_t v = answer + 1;; ++v) {
    if (v == answer) continue;
    bell->store(v);
    syscall(SYS_futex, bell, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
}

// Byte i of the output the streaming methods write.
char PatternByte(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 251) % 26); }

// Writes `size` pattern bytes in place (Tail/Advance), `step` at a time.
Status WriteInPlace(Output& out, std::size_t size, std::size_t step) {
  for (std::size_t done = 0; done < size;) {
    std::size_t room = 0;
    char* tail = out.Tail(&room);
    const std::size_t n = std::min({step, size - done, room});
    for (std::size_t i = 0; i < n; ++i) tail[i] = PatternByte(done + i);
    if (n == 0 || !out.Advance(n)) return Status::Error(SV_ERR_TOO_LARGE, "response too large");
    done += n;
  }
  return Status::Ok();
}

// The response slot, mapped writable, to forge reports in.
sv::ipc::ResponseSlot* ResponseSlotForForging() {
  auto* base = static_cast<std::byte*>(MapRegion(sv::ipc::kResponseFd, PROT_READ | PROT_WRITE));
  if (base == nullptr) std::abort();
  return reinterpret_cast<sv::ipc::ResponseSlot*>(base + sv::ipc::kSlotOffset);
}

std::uint64_t StreamReport(const Call& call, std::uint64_t ready) {
  return std::uint64_t{static_cast<std::uint32_t>(call.info->call_id)} << 32 | ready;
}

// Reports one more byte of output ready every 10 us (well within any spin
// budget), never answering.
[[noreturn]] void CreepStream(const Call& call) {
  sv::ipc::ResponseSlot* slot = ResponseSlotForForging();
  for (std::uint64_t ready = 1;; ++ready) {
    slot->streamed.store(StreamReport(call, ready % (1 << 20)));
    const auto next = std::chrono::steady_clock::now() + std::chrono::microseconds(10);
    while (std::chrono::steady_clock::now() < next) {
    }
  }
}

// Input "A B MODE": writes A pattern bytes, waits for a line on stdin, then
// per MODE: "more" overwrites the first output byte and writes B more pattern
// bytes; "shrink" answers with an output size of 16; "back" reports 10 bytes
// ready, then hangs.
Status StreamPause(const Call& call, Output& out) {
  std::size_t first = 0, more = 0;
  char mode[16] = {};
  if (std::sscanf(std::string(call.input).c_str(), "%zu %zu %15s", &first, &more, mode) != 3) {
    return Status::Error(1, "want \"A B MODE\"");
  }
  std::string bytes(first + more, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = PatternByte(i);
  if (Status s = out.Write(std::string_view(bytes).substr(0, first)); !s.ok()) return s;
  ReadLine(0);
  if (std::string_view(mode) == "shrink") Forge(call, call.info->call_id, 16);
  if (std::string_view(mode) == "back") {
    ResponseSlotForForging()->streamed.store(StreamReport(call, 10));
    SleepForever();
  }
  std::size_t room = 0;
  out.Tail(&room)[-static_cast<std::ptrdiff_t>(first)] = 'X';
  return out.Write(std::string_view(bytes).substr(first));
}

// Reports more output ready than the response area holds, then hangs.
[[noreturn]] void StreamOverCapacity(const Call& call) {
  sv::ipc::ResponseSlot* slot = ResponseSlotForForging();
  const auto* header = reinterpret_cast<const sv::ipc::RegionHeader*>(reinterpret_cast<std::byte*>(slot) -
                                                                      sv::ipc::kSlotOffset);
  slot->announced.store(0xFFFF'FFFFu);
  slot->streamed.store(StreamReport(call, std::uint64_t{header->data_capacity.load()} + 1));
  SleepForever();
}

void OwnSignal(int) {}

}  // namespace

SV_PLUGIN("misbehave", [](const sv::plugin::Config& config, sv::plugin::Registry& r) {
  if (config.Get("init") == "retry") return Status::Retry("the database is still starting");
  if (config.Get("steal_signal") == "1") {
    // Takes the signal stop/ would use by default, as some runtimes do.
    struct sigaction sa {};
    sa.sa_handler = OwnSignal;
    sigaction(SIGRTMIN + 3, &sa, nullptr);
  }
  r.Method("litter_tmpdir", [](const Call& c, Output& out) {
    // Nested files, and links to the outside path given as input.
    const std::string tmp = std::getenv("TMPDIR");
    const std::string outside(c.input);
    bool ok = mkdir((tmp + "/a").c_str(), 0700) == 0 && mkdir((tmp + "/a/b").c_str(), 0700) == 0;
    FILE* f = std::fopen((tmp + "/a/b/file").c_str(), "w");
    ok = ok && f != nullptr && std::fputs("data", f) >= 0;
    if (f != nullptr) std::fclose(f);
    ok = ok && symlink(outside.c_str(), (tmp + "/dir_link").c_str()) == 0;
    ok = ok && symlink((outside + "/keep").c_str(), (tmp + "/a/file_link").c_str()) == 0;
    ok = ok && chmod((tmp + "/a/b").c_str(), 0500) == 0;  // read-only: must still go
    return ok ? out.Write("littered") : Status::Error(1, std::strerror(errno));
  });
  r.Method("read_stdin", [](const Call&, Output& out) { return out.Write(ReadLine(0)); });
  r.Method("bump_doorbell", [](const Call& c, Output&) -> Status { BumpDoorbell(c); });
  r.Method("echo", [](const Call& c, Output& out) { return out.Write(c.input); });
  r.Method("load_time_fd", [](const Call&, Output& out) { return out.Write(LoadTimeFd()); });
  r.Method("hang_futex", [](const Call&, Output&) -> Status { SleepForever(); });
  r.Method("spin_signals_blocked", [](const Call&, Output&) -> Status {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, nullptr);
    SpinForever();
  });
  r.Method("spin", [](const Call&, Output&) -> Status {
    SpinForever();
  });
  r.Method("segfault", [](const Call&, Output&) -> Status {
    // Not null: a null store would be caught by UBSan before it faults.
    auto* volatile nowhere = reinterpret_cast<volatile int*>(std::uintptr_t{16});
    *nowhere = 1;
    return Status::Ok();
  });
  r.Method("abort", [](const Call&, Output&) -> Status { std::abort(); });
  r.Method("exit", [](const Call& c, Output&) -> Status { _exit(std::atoi(std::string(c.input).c_str())); });
  r.Method("allocate", [](const Call&, Output&) { return Allocate(); });
  r.Method("fork_setsid", [](const Call&, Output& out) -> Status {
    pid_t child = fork();
    if (child == 0) {
      setsid();
      SleepForever();
    }
    return out.Write(std::to_string(child));
  });
  r.Method("oversized_length", [](const Call& c, Output&) -> Status { Forge(c, c.info->call_id, 0xFFFF'FFF0u); });
  r.Method("wrong_call_id", [](const Call& c, Output&) -> Status { Forge(c, c.info->call_id + 7, 0); });
  r.Method("tamper", [](const Call&, Output& out) { return out.Write(Tamper()); });
  // Large outputs written in small pieces, the way a serializer would.
  r.Method("write_pieces", [](const Call& c, Output& out) {
    const std::size_t size = std::strtoul(std::string(c.input).c_str(), nullptr, 10);
    std::string piece;
    for (std::size_t done = 0; done < size; done += piece.size()) {
      piece.clear();
      for (std::size_t i = done; i < std::min(size, done + 1000); ++i) piece += PatternByte(i);
      if (Status s = out.Write(piece); !s.ok()) return s;
    }
    return Status::Ok();
  });
  r.Method("write_in_place", [](const Call& c, Output& out) {
    return WriteInPlace(out, std::strtoul(std::string(c.input).c_str(), nullptr, 10), 10'000);
  });
  r.Method("fail_after_writing", [](const Call& c, Output& out) {
    if (Status s = WriteInPlace(out, std::strtoul(std::string(c.input).c_str(), nullptr, 10), 10'000); !s.ok()) {
      return s;
    }
    return Status::Error(7, "failed after writing");
  });
  r.Method("creep_stream", [](const Call& c, Output&) -> Status { CreepStream(c); });
  r.Method("stream_pause", [](const Call& c, Output& out) { return StreamPause(c, out); });
  r.Method("stream_over_capacity", [](const Call& c, Output&) -> Status { StreamOverCapacity(c); });
  r.Method("wake_loop", [](const Call& c, Output& out) {
    // Wakes the caller's doorbell futex input-many times without answering.
    auto* base = static_cast<std::byte*>(MapRegion(sv::ipc::kResponseFd, PROT_READ | PROT_WRITE));
    auto* bell = reinterpret_cast<std::atomic<std::uint32_t>*>(base + sv::ipc::kSlotOffset);
    const long rounds = std::atol(std::string(c.input).c_str());
    for (long i = 0; rounds < 0 || i < rounds; ++i) {
      syscall(SYS_futex, bell, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    }
    return out.Write("woke");
  });
  r.Method("flood_stdout", [](const Call& c, Output&) { return Flood(c); });
  r.Method("print_stderr", [](const Call& c, Output& out) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(c.input.size()), c.input.data());
    return out.Write("printed");
  });
  r.Method("sandbox", [](const Call&, Output& out) { return out.Write(Sandbox()); });
  r.Method("fail", [](const Call&, Output&) { return Status::Error(42, "failed\non purpose"); });
  r.Method("throw", [](const Call&, Output&) -> Status { throw std::runtime_error("thrown on purpose"); });
  r.Method("too_large", [](const Call&, Output& out) {
    std::size_t room = 0;
    out.Tail(&room);
    out.Advance(room + 1);
    return Status::Ok();
  });
  return Status::Ok();
});
