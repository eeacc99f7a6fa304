//! Leader and standby: of the recorders of one site, the one holding the site's advisory lock writes and judges
//! alarms; how a leader names itself in the heartbeat row.

use super::*;

/// How a leader names itself in `site_leader`: the machine and the process.
pub(super) fn leader_name() -> String {
    format!("{} (pid {})", crate::store::site::console_name(), std::process::id())
}

impl Writer {
    /// Takes the site's lead if no other recorder holds it; a new leader puts its alarms back from the journal.
    pub(super) async fn try_lead(&mut self) -> Result<bool, SiteError> {
        let Some(client) = &self.client else { return Ok(false) };
        let got: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&self.key]).await?.get(0);
        if got {
            self.alarm_seq = restore_alarms(client, self.options.evaluator.as_mut()).await?;
        }
        Ok(got)
    }
}
