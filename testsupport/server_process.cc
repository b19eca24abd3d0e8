#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace framed::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string temp_path() {
  char tmpl[] = "/tmp/framed-test-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd >= 0) ::close(fd);
  return tmpl;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ExitStatus decode_status(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}

// argv for execv, built before fork: the child must not allocate.
std::vector<char*> make_argv(const std::string& path, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// The parent's environment with `env` ("NAME=VALUE") entries replacing or
// adding variables. The strings live in `storage`; built before fork, since
// the child must not allocate.
std::vector<char*> make_envp(const std::vector<std::string>& env,
                             std::vector<std::string>& storage) {
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& add : env) replaced = replaced || add.substr(0, add.find('=')) == name;
    if (!replaced) storage.push_back(entry);
  }
  storage.insert(storage.end(), env.begin(), env.end());
  std::vector<char*> envp;
  envp.reserve(storage.size() + 1);
  for (auto& s : storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  return envp;
}

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(char* const* argv, int out_fd, int err_fd, const SpawnOptions* options,
                             int in_fd = -1, char* const* envp = nullptr) {
  if (in_fd >= 0) ::dup2(in_fd, STDIN_FILENO);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(err_fd, STDERR_FILENO);
  if (options != nullptr) {
    if (options->fd_limit != 0) {
      rlimit lim{options->fd_limit, options->fd_limit};
      ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (options->fd_soft_limit != 0) {
      rlimit lim{};
      ::getrlimit(RLIMIT_NOFILE, &lim);
      lim.rlim_cur = options->fd_soft_limit;
      ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    for (int i = 0; i < options->leak_fds; ++i) ::open("/dev/null", O_RDONLY);
  }
  if (envp != nullptr) {
    ::execve(argv[0], argv, envp);
  } else {
    ::execv(argv[0], argv);
  }
  std::_Exit(127);
}

}  // namespace

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (!stderr_path_.empty()) ::unlink(stderr_path_.c_str());
}

bool ServerProcess::start(const std::string& path, const SpawnOptions& options,
                          std::string& error) {
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    error = "pipe2 failed";
    return false;
  }
  stderr_path_ = temp_path();
  const int err_fd = ::open(stderr_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  const auto argv = make_argv(path, options.args);
  std::vector<std::string> env_storage;
  const auto envp = make_envp(options.env, env_storage);
  pid_ = ::fork();
  if (pid_ == 0) exec_child(argv.data(), out_pipe[1], err_fd, &options, -1, envp.data());
  ::close(out_pipe[1]);
  ::close(err_fd);
  stdout_.reset(out_pipe[0]);
  if (pid_ < 0) {
    error = "fork failed";
    return false;
  }
  // Read the first stdout line, bounded in time.
  const auto deadline = Clock::now() + options.startup_timeout;
  std::string text;
  while (text.find('\n') == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{stdout_.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      error = "server did not announce its port in time; stderr: " + stderr_text();
      return false;
    }
    char buf[256];
    const ssize_t n = ::read(stdout_.get(), buf, sizeof buf);
    if (n <= 0) {
      error = "server exited before listening; stderr: " + stderr_text();
      return false;
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  line_ = text.substr(0, text.find('\n'));
  const auto colon = line_.rfind(':');
  if (line_.rfind("listening on ", 0) != 0 || colon == std::string::npos) {
    error = "unexpected first line: " + line_;
    return false;
  }
  port_ = static_cast<std::uint16_t>(std::atoi(line_.c_str() + colon + 1));
  return port_ != 0;
}

void ServerProcess::send_signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

std::optional<ExitStatus> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return decode_status(status);
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string ServerProcess::stderr_text() const { return read_file(stderr_path_); }

long ServerProcess::rss_kib() const { return rss_kib_of(pid_); }

double ServerProcess::cpu_seconds() const { return cpu_seconds_of(pid_); }

long rss_kib_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      in >> kib;
      return kib;
    }
  }
  return 0;
}

double cpu_seconds_of(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  // Fields after the parenthesised command name; utime and stime are the
  // 14th and 15th fields of the whole line.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

bool ServerProcess::wait_for_log(const std::string& needle,
                                 std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (stderr_text().find(needle) != std::string::npos) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ServerProcess::counters_line() {
  const auto before = stderr_text().size();
  send_signal(SIGUSR1);
  for (int i = 0; i < 250; ++i) {
    const std::string text = stderr_text();
    const auto at = text.find("counters (SIGUSR1)", before);
    if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
      return text.substr(at, text.find('\n', at) - at);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

ExitStatus run_to_exit(const std::string& path, const std::vector<std::string>& args,
                       std::string& out, std::string& err, std::chrono::milliseconds timeout,
                       const std::string& input, const std::vector<std::string>& env) {
  const std::string in_path = temp_path();
  {
    std::ofstream in_file(in_path);
    in_file << input;
  }
  const int in_fd = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  const std::string out_path = temp_path();
  const std::string err_path = temp_path();
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  const auto argv = make_argv(path, args);
  std::vector<std::string> env_storage;
  const auto envp = make_envp(env, env_storage);
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(argv.data(), out_fd, err_fd, nullptr, in_fd, envp.data());
  ::close(in_fd);
  ::unlink(in_path.c_str());
  ::close(out_fd);
  ::close(err_fd);
  ExitStatus result;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      result = decode_status(status);
      break;
    }
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result = decode_status(status);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  out = read_file(out_path);
  err = read_file(err_path);
  ::unlink(out_path.c_str());
  ::unlink(err_path.c_str());
  return result;
}

}  // namespace framed::test
