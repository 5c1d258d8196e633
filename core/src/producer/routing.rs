//! Which route a producer sends by: the topic's own, or — for a topic the
//! name server does not know yet — one derived from the auto-create
//! template topic (Java: `createTopicKey`, "TBW102"), with
//! `min(defaultTopicQueueNums, template queues)` queues per broker.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{Producer, SendError, SendId};
use crate::engine::{Context, RouteOutcome};
use crate::route::RouteTable;

/// A route a send can go by.
pub(super) fn usable<'a>(
    ctx: &'a Context<'_>,
    templated: &'a crate::collections::VecMap<String, RouteTable>,
    topic: &str,
) -> Option<&'a RouteTable> {
    match ctx.route(topic) {
        Some(t) if !t.publish_queues().is_empty() => Some(t),
        _ => templated.get(topic),
    }
}

impl Producer {
    /// Parks send `id` until `topic` has a usable route, fetching it.
    pub(super) fn wait_for_route(&mut self, ctx: &mut Context<'_>, id: SendId, topic: &str) {
        self.waiting.get_or_default(topic.to_string()).push(id);
        match ctx.route(topic) {
            // Known but not writable anywhere (a topic being created):
            // go by the template.
            Some(_) => self.use_template(ctx, topic),
            None => ctx.watch_route(topic),
        }
    }

    /// A route query ended: wake or fail the sends waiting for it.
    pub(super) fn route_settled(
        &mut self,
        ctx: &mut Context<'_>,
        topic: &str,
        outcome: &RouteOutcome,
    ) {
        if topic == self.config.create_topic_key {
            self.template_settled(ctx, outcome);
            if !self.waiting.contains_key(topic) {
                return; // nobody sends to the template itself
            }
        }
        match outcome {
            RouteOutcome::Ready { .. } => {
                let writable = ctx
                    .route(topic)
                    .is_some_and(|t| !t.publish_queues().is_empty());
                if writable {
                    self.templated.remove(topic);
                    self.wake(ctx, topic);
                } else if self.waiting.contains_key(topic) {
                    self.use_template(ctx, topic);
                }
            }
            RouteOutcome::NotExist { .. } => {
                // Not (or no longer) known to the name server: send by the
                // template, as Java does for a topic still to be created.
                if self.waiting.contains_key(topic) || !self.templated.contains_key(topic) {
                    self.use_template(ctx, topic);
                }
            }
            RouteOutcome::Failed { reason } => {
                if usable(ctx, &self.templated, topic).is_some() {
                    self.wake(ctx, topic);
                } else {
                    self.fail_waiting(ctx, topic, reason);
                }
            }
        }
    }

    /// Routes `topic` by the template topic, fetching the template first
    /// if it is not cached.
    fn use_template(&mut self, ctx: &mut Context<'_>, topic: &str) {
        let template = self.config.create_topic_key.clone();
        if ctx.route_data(&template).is_some() {
            self.derive_from_template(ctx, topic);
            self.wake(ctx, topic);
        } else {
            self.awaiting_template.insert(topic.to_string());
            // Fetches it unless a query is in flight; either way its end
            // comes back through `route_settled`.
            ctx.watch_route(&template);
        }
    }

    fn derive_from_template(&mut self, ctx: &Context<'_>, topic: &str) {
        if let Some(data) = ctx.route_data(&self.config.create_topic_key) {
            let queues = self.config.default_topic_queue_nums;
            let table = RouteTable::from_default_topic(topic, data, queues);
            self.templated.insert(topic.to_string(), table);
        }
    }

    fn template_settled(&mut self, ctx: &mut Context<'_>, outcome: &RouteOutcome) {
        match outcome {
            RouteOutcome::Ready { changed } => {
                let mut topics: Vec<String> = core::mem::take(&mut self.awaiting_template)
                    .into_iter()
                    .collect();
                if *changed {
                    // The template moved: re-derive every templated topic.
                    topics.extend(self.templated.keys().cloned());
                }
                for topic in topics {
                    self.derive_from_template(ctx, &topic);
                    self.wake(ctx, &topic);
                }
            }
            RouteOutcome::NotExist { reason } | RouteOutcome::Failed { reason } => {
                let topics = core::mem::take(&mut self.awaiting_template);
                for topic in topics {
                    self.fail_waiting(ctx, &topic, reason);
                }
            }
        }
    }

    /// Starts (or fails) every send waiting for `topic`.
    fn wake(&mut self, ctx: &mut Context<'_>, topic: &str) {
        let Some(waiting) = self.waiting.remove(topic) else {
            return;
        };
        for id in waiting {
            if usable(ctx, &self.templated, topic).is_some() {
                self.attempt_send(ctx, id);
            } else {
                let err = SendError::NoRoute {
                    topic: topic.to_string(),
                    reason: "empty route".to_string(),
                };
                self.finish_send(ctx, id, Err(err));
            }
        }
    }

    fn fail_waiting(&mut self, ctx: &mut Context<'_>, topic: &str, reason: &str) {
        let Some(waiting) = self.waiting.remove(topic) else {
            return;
        };
        for id in waiting {
            let err = SendError::NoRoute {
                topic: topic.to_string(),
                reason: reason.to_string(),
            };
            self.finish_send(ctx, id, Err(err));
        }
    }
}
