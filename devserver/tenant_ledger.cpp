#include "tenant_ledger.h"

namespace see2ai::dev {

TenantLedger::TenantLedger(const std::vector<Tenant> &tenants) {
  for (const auto &tenant : tenants) {
    keys_.push_back(tenant.key);
    TenantAccount account;
    account.name = "tenant-" + std::to_string(accounts_.size());
    account.balance = tenant.balance;
    accounts_.push_back(account);
  }
}

std::optional<size_t> TenantLedger::find_key(const std::string &key) const {
  if (key.empty()) return std::nullopt;
  for (size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i] == key) return i;
  return std::nullopt;
}

std::string TenantLedger::name(size_t tenant) const {
  return accounts_.at(tenant).name;
}

bool TenantLedger::reserve(size_t tenant, int64_t tokens) {
  std::lock_guard<std::mutex> guard(lock_);
  TenantAccount &account = accounts_.at(tenant);
  if (account.balance - account.reserved < tokens) return false;
  account.reserved += tokens;
  return true;
}

void TenantLedger::charge(size_t tenant, int64_t tokens) {
  std::lock_guard<std::mutex> guard(lock_);
  TenantAccount &account = accounts_.at(tenant);
  account.reserved -= tokens;
  account.balance -= tokens;
}

void TenantLedger::release(size_t tenant, int64_t tokens) {
  std::lock_guard<std::mutex> guard(lock_);
  accounts_.at(tenant).reserved -= tokens;
}

int64_t TenantLedger::available(size_t tenant) const {
  std::lock_guard<std::mutex> guard(lock_);
  const TenantAccount &account = accounts_.at(tenant);
  return account.balance - account.reserved;
}

std::vector<TenantAccount> TenantLedger::accounts() const {
  std::lock_guard<std::mutex> guard(lock_);
  return accounts_;
}

}  // namespace see2ai::dev
