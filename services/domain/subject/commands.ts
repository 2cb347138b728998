export interface RevokeSubject {
  readonly type: "RevokeSubject";
  readonly now: number;
  readonly subject: string;
  readonly reason: string;
}

export type SubjectCommand = RevokeSubject;
