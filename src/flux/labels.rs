//! Labels Flux puts on every object it installs.

pub const PART_OF: &str = "app.kubernetes.io/part-of";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const VERSION: &str = "app.kubernetes.io/version";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
