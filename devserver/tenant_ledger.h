// TenantLedger: the dev server's API keys and token balances. Tokens are reserved at submit,
// charged when the task succeeds and released when it fails, all under one lock so they stay exact.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dev_server.h"

namespace see2ai::dev {

struct TenantAccount {
  std::string name;  // "tenant-N": what logs and /_dev/tenants show instead of the key
  int64_t balance = 0;
  int64_t reserved = 0;
};

class TenantLedger {
 public:
  explicit TenantLedger(const std::vector<Tenant> &tenants);

  // Index of the tenant owning `key`, if any.
  std::optional<size_t> find_key(const std::string &key) const;
  std::string name(size_t tenant) const;

  // False when balance minus what is already reserved cannot pay `tokens`.
  bool reserve(size_t tenant, int64_t tokens);
  void charge(size_t tenant, int64_t tokens);
  void release(size_t tenant, int64_t tokens);
  int64_t available(size_t tenant) const;

  std::vector<TenantAccount> accounts() const;

 private:
  std::vector<std::string> keys_;
  mutable std::mutex lock_;
  std::vector<TenantAccount> accounts_;
};

}  // namespace see2ai::dev
