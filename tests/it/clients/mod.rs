//! Real mail clients (mutt, mailx, git send-email, cron, fetchmail) driving the binary.

mod mua;
