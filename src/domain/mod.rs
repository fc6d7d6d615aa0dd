//! Validated values: once a request field becomes one of these, it is known to be valid.

pub mod attachment;
pub mod email;
pub mod file;
pub mod import;
pub mod model_id;
pub mod name;
pub mod oauth_client;
pub mod outbound;
pub mod password;
pub mod registration;
pub mod search_query;
pub mod settings;

pub use email::Email;
pub use model_id::ModelId;
pub use name::DisplayName;
pub use password::Password;
