package server

// Catalogue identifiers of the errors the consumer create check raises.
const (
	jsConsumerNameExist                   = "JSConsumerNameExistErr"
	jsConsumerDurableNotSet               = "JSConsumerDurableNameNotSetErr"
	jsConsumerDurableMismatch             = "JSConsumerDurableNameNotMatchSubjectErr"
	jsConsumerEphemeralWithDurable        = "JSConsumerEphemeralWithDurableNameErr"
	jsMaximumConsumersLimit               = "JSMaximumConsumersLimitErr"
	jsConsumerDeliverToWildcards          = "JSConsumerDeliverToWildcardsErr"
	jsConsumerPushMaxWaiting              = "JSConsumerPushMaxWaitingErr"
	jsConsumerDeliverCycle                = "JSConsumerDeliverCycleErr"
	jsConsumerMaxPendingAckPolicy         = "JSConsumerMaxPendingAckPolicyRequiredErr"
	jsConsumerSmallHeartbeat              = "JSConsumerSmallHeartbeatErr"
	jsConsumerPullRequiresAck             = "JSConsumerPullRequiresAckErr"
	jsConsumerPullWithRateLimit           = "JSConsumerPullWithRateLimitErr"
	jsConsumerHBRequiresPush              = "JSConsumerHBRequiresPushErr"
	jsConsumerFCRequiresPush              = "JSConsumerFCRequiresPushErr"
	jsConsumerDirectRequiresPush          = "JSConsumerDirectRequiresPushErr"
	jsConsumerDirectRequiresEphemeral     = "JSConsumerDirectRequiresEphemeralErr"
	jsConsumerInvalidPolicy               = "JSConsumerInvalidPolicyErrF"
	jsConsumerInvalidSampling             = "JSConsumerInvalidSamplingErrF"
	jsConsumerWQRequiresExplicitAck       = "JSConsumerWQRequiresExplicitAckErr"
	jsConsumerWQMultipleUnfiltered        = "JSConsumerWQMultipleUnfilteredErr"
	jsConsumerWQNotUnique                 = "JSConsumerWQConsumerNotUniqueErr"
	jsConsumerWQNotDeliverAll             = "JSConsumerWQConsumerNotDeliverAllErr"
	jsConsumerNameTooLong                 = "JSConsumerNameTooLongErrF"
	jsConsumerDescriptionTooLong          = "JSConsumerDescriptionTooLongErrF"
	jsConsumerFCNeedsHeartbeats           = "JSConsumerWithFlowControlNeedsHeartbeats"
	jsConsumerInvalidDeliverSubject       = "JSConsumerInvalidDeliverSubject"
	jsConsumerMaxRequestExpiresTooSmall   = "JSConsumerMaxRequestExpiresTooSmall"
	jsConsumerMaxDeliverBackoff           = "JSConsumerMaxDeliverBackoffErr"
	jsConsumerMaxPendingAckExcess         = "JSConsumerMaxPendingAckExcessErrF"
	jsConsumerMaxRequestBatchExceeded     = "JSConsumerMaxRequestBatchExceededF"
	jsConsumerNamePathSep                 = "JSConsumerNameContainsPathSeparatorsErr"
	jsConsumerFilterSubjMismatch          = "JSConsumerCreateFilterSubjectMismatchErr"
	jsConsumerMetadataLength              = "JSConsumerMetadataLengthErrF"
	jsConsumerDuplicateFilterSubjects     = "JSConsumerDuplicateFilterSubjects"
	jsConsumerMultipleFiltersSubj         = "JSConsumerMultipleFiltersNotAllowed"
	jsConsumerOverlappingSubjectFilters   = "JSConsumerOverlappingSubjectFilters"
	jsConsumerEmptyFilter                 = "JSConsumerEmptyFilter"
	jsConsumerAlreadyExists               = "JSConsumerAlreadyExists"
	jsConsumerDoesNotExist                = "JSConsumerDoesNotExist"
	jsConsumerInactiveThresholdExcess     = "JSConsumerInactiveThresholdExcess"
	jsConsumerPriorityPolicyWithoutGroup  = "JSConsumerPriorityPolicyWithoutGroup"
	jsConsumerEmptyGroupName              = "JSConsumerEmptyGroupName"
	jsConsumerInvalidGroupName            = "JSConsumerInvalidGroupNameErr"
	jsConsumerPushWithPriorityGroup       = "JSConsumerPushWithPriorityGroupErr"
	jsConsumerAckWaitNegative             = "JSConsumerAckWaitNegativeErr"
	jsConsumerBackOffNegative             = "JSConsumerBackOffNegativeErr"
	jsConsumerPriorityGroupWithPolicyNone = "JSConsumerPriorityGroupWithPolicyNone"
	jsConsumerPinnedTTLWithoutPolicy      = "JSConsumerPinnedTTLWithoutPriorityPolicyNone"
	jsConsumerAckFCRequiresPush           = "JSConsumerAckFCRequiresPushErr"
	jsConsumerAckFCRequiresFC             = "JSConsumerAckFCRequiresFCErr"
	jsConsumerAckFCRequiresMaxAckPending  = "JSConsumerAckFCRequiresMaxAckPendingErr"
	jsConsumerAckFCRequiresNoAckWait      = "JSConsumerAckFCRequiresNoAckWaitErr"
	jsConsumerAckFCRequiresNoMaxDeliver   = "JSConsumerAckFCRequiresNoMaxDeliverErr"
	jsPedantic                            = "JSPedanticErrF"
)

// consumerCheckErrorIDs lists them for the catalogue test.
var consumerCheckErrorIDs = []string{jsConsumerNameExist, jsConsumerDurableNotSet,
	jsConsumerDurableMismatch, jsConsumerEphemeralWithDurable, jsMaximumConsumersLimit,
	jsConsumerDeliverToWildcards, jsConsumerPushMaxWaiting, jsConsumerDeliverCycle,
	jsConsumerMaxPendingAckPolicy, jsConsumerSmallHeartbeat, jsConsumerPullRequiresAck,
	jsConsumerPullWithRateLimit, jsConsumerHBRequiresPush, jsConsumerFCRequiresPush,
	jsConsumerDirectRequiresPush, jsConsumerDirectRequiresEphemeral, jsConsumerInvalidPolicy,
	jsConsumerInvalidSampling, jsConsumerWQRequiresExplicitAck, jsConsumerWQMultipleUnfiltered,
	jsConsumerWQNotUnique, jsConsumerWQNotDeliverAll, jsConsumerNameTooLong, jsConsumerDescriptionTooLong,
	jsConsumerFCNeedsHeartbeats, jsConsumerInvalidDeliverSubject, jsConsumerMaxRequestExpiresTooSmall,
	jsConsumerMaxDeliverBackoff, jsConsumerMaxPendingAckExcess, jsConsumerMaxRequestBatchExceeded,
	jsConsumerNamePathSep, jsConsumerFilterSubjMismatch, jsConsumerMetadataLength,
	jsConsumerDuplicateFilterSubjects, jsConsumerMultipleFiltersSubj, jsConsumerOverlappingSubjectFilters,
	jsConsumerEmptyFilter, jsConsumerAlreadyExists, jsConsumerDoesNotExist, jsConsumerInactiveThresholdExcess,
	jsConsumerPriorityPolicyWithoutGroup, jsConsumerEmptyGroupName, jsConsumerInvalidGroupName,
	jsConsumerPushWithPriorityGroup, jsConsumerAckWaitNegative, jsConsumerBackOffNegative,
	jsConsumerPriorityGroupWithPolicyNone, jsConsumerPinnedTTLWithoutPolicy, jsConsumerAckFCRequiresPush,
	jsConsumerAckFCRequiresFC, jsConsumerAckFCRequiresMaxAckPending, jsConsumerAckFCRequiresNoAckWait,
	jsConsumerAckFCRequiresNoMaxDeliver, jsPedantic}
