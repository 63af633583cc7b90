//! spec-actions facade
