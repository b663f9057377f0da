//! A campaign whose recipients are in a file (`audience: {"s3": …}`): its reader — a chunk on
//! the due index like the others — reads the file a part at a time
//! (`polite_domain::audience_file`), creates each part's messages and moves on, so memory stays
//! the same whatever the file's size.
//!
//! Each part is claimed under the chunk's lease and ends with one conditional write that moves
//! the reader and sets the campaign's `accepted`, `rejected` and lines read together. A
//! fan-out that dies half-way leaves the reader where it was: the part is read again when the
//! lease runs out, its recipients get the same places (so the same messages, which exist), and
//! nothing is created or counted twice. A person named on two lines gets one message: the
//! second line's message key holds the first's (another place, another body), and it is
//! rejected as a repeat.

use jiff::Timestamp;
use polite_domain::audience;
use polite_domain::audience_file::PART_BYTES;
use polite_domain::campaign::{CampaignRecord, Reader};
use polite_domain::ports::{
    AudienceFiles, CampaignCompletion, CampaignStore, ContactReader, EventQueue, MessageIntake, MessageMoves,
    MessageReader, StoreError, TemplateReader,
};

use super::Scheduler;
use super::campaigns::{Batch, FanOut};

impl<M, C, Q, T, A> Scheduler<M, C, Q, T, A>
where
    A: AudienceFiles + Sync,
    T: TemplateReader + Sync,
    M: MessageIntake + MessageReader + MessageMoves + CampaignStore + CampaignCompletion + Sync,
    C: ContactReader + Sync,
    Q: EventQueue + Sync,
{
    /// Reads the next part of the campaign's file from `reader` (claimed by the caller) and
    /// creates its recipients' messages.
    ///
    /// # Errors
    /// [`StoreError`] when the file or a table cannot be read or written: the reader stays
    /// where it was and its lease brings it back.
    pub(super) async fn read_next_part(
        &self,
        campaign: &CampaignRecord,
        reader: Reader,
        now: Timestamp,
    ) -> Result<FanOut, StoreError> {
        let source = campaign
            .audience
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt(format!("campaign {} has a reader but no file", campaign.id)))?;
        let file = &source.file;
        let mut next = reader.clone();
        let Some(part) = self.audiences.read_part(file, reader.cursor.offset, PART_BYTES).await? else {
            metrics::counter!("AudienceFilesMissing").increment(1);
            tracing::error!(campaign_id = %campaign.id, file = %file, "the audience file is not there: the campaign ends with what was read");
            next.cursor.done = true;
            self.messages.advance_reader(&campaign.id, &reader, &next, now).await?;
            return Ok(FanOut::default());
        };
        let read = file.read(&reader.cursor, &part.bytes, part.size);
        let mut entries = Vec::with_capacity(read.lines.len());
        for line in read.lines {
            match line.entry {
                Ok(entry) => entries.push(entry),
                Err(problem) => {
                    next.rejected += 1;
                    tracing::info!(campaign_id = %campaign.id, line = line.number, problem, "audience line rejected");
                }
            }
        }
        let (addressed, unreadable) = audience::read(entries);
        let own = campaign.payload.template_components();
        // One registry read per part: the template's variables and the category Meta set.
        let template = self.template_of(&campaign.payload).await;
        let shape = template.as_ref().and_then(|t| t.shape.clone());
        let governing = template.and_then(|t| t.category_at(now));
        let (recipients, misfits) = audience::personalise(&addressed, &own, shape.as_ref());
        next.rejected += (unreadable.len() + misfits.len()) as u64;
        next.positions += recipients.len() as u64;
        let first = usize::try_from(reader.positions).unwrap_or(usize::MAX);
        // A repeat: another line named the same person, who has their message.
        let Batch { report, repeats } = self.create_batch(campaign, recipients, first, true, governing, now).await?;
        next.accepted += (report.created + report.existing) as u64;
        next.rejected += repeats as u64;
        next.cursor = read.next;
        if !self.messages.advance_reader(&campaign.id, &reader, &next, now).await? {
            tracing::info!(campaign_id = %campaign.id, "the reader had moved: another fan-out read this part");
            return Ok(report);
        }
        if next.cursor.done {
            // Its messages may all have ended before its file did (cancelled, suppressed at
            // once): the publisher, which checks completion as their events go out, may have
            // looked before the file was read. Look once more now it is.
            if let Err(e) = self.messages.complete_if_done(&campaign.id, now).await {
                tracing::warn!(campaign_id = %campaign.id, error = %e, "completion not checked; the next event checks it");
            }
        }
        tracing::info!(
            campaign_id = %campaign.id,
            lines = next.cursor.lines,
            accepted = next.accepted,
            rejected = next.rejected,
            done = next.cursor.done,
            "audience part read"
        );
        Ok(report)
    }
}
